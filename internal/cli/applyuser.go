package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/apply"
	"github.com/seccompwatch/seccompwatch/internal/buildinfo"
	"github.com/seccompwatch/seccompwatch/internal/pipeline"
	"github.com/seccompwatch/seccompwatch/internal/unitname"
	"github.com/seccompwatch/seccompwatch/internal/unitprops"
	"github.com/seccompwatch/seccompwatch/suggest"
)

// userProps reads the units of users' service managers only
// (pipeline.Users): a system unit is not its to read.
type userProps struct{ *unitprops.UserManagers }

var _ pipeline.Users = userProps{}

// Props implements unitprops.Provider: never a system unit's.
func (userProps) Props(_ context.Context, unit string) (unitprops.Props, error) {
	return unitprops.Props{Unit: unit}, errors.New("only users' service managers are asked here")
}

// connectUserManager connects to user uid's manager and reads unit there
// within 30 s, before PolicyFor asks it (whose look-up is bounded by
// pipeline.PropsTimeout, short for a first contact under load); a failure
// is what PolicyFor then reports.
func connectUserManager(ctx context.Context, users *unitprops.UserManagers, uid int, unit string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_ = users.Prefetch(ctx, uid, unit)
}

func (a *applier) isUser() bool { return a.userUnit }

func (a *applier) ref() string { return unitname.UserRef(a.uid, a.unit) }

// fileUnit names the unit in the drop-in's header ("apply for …",
// "Undo: seccompwatch apply --revert …"): a user's unit by its reference.
func (a *applier) fileUnit() string {
	if a.isUser() {
		return a.ref()
	}
	return a.unit
}

// userPath is where a user's unit's drop-in goes: the user's own
// ~/.config/systemd/user/NAME.d/, or with --all-users
// /etc/systemd/user/NAME.d/ (every user's NAME).
func (a *applier) userPath() string {
	if a.allUsers {
		p, _ := apply.Path("/", a.unit, true) // the unit name is validated
		return p
	}
	p, _ := apply.UserPath(a.asUser.Home, a.unit) // checked in runUser
	return p
}

// runUser applies (or reverts) the drop-in of a unit of user uid's
// manager: the records from the daemon (as data), the verdicts computed
// here from the unit's configuration as that manager says it (the
// daemon, as the shipped unit runs it, cannot ask it), the file written
// as the user, that manager reloaded and its properties checked.
func (a *applier) runUser(ctx context.Context, socket string, revert, yes bool, allowed map[string]bool, allowRisky bool) error {
	if revert {
		if err := a.lookupUser(); err != nil {
			return err
		}
		if err := a.connectUser(ctx); err != nil {
			return err
		}
		defer a.close()
		return a.revert(ctx)
	}
	recs, err := apply.FetchRecords(ctx, socket, a.ref())
	if err != nil {
		return err
	}
	users := unitprops.NewUserManagers(unitprops.DBusOptions{Table: a.t, CallTimeout: 30 * time.Second})
	defer users.Close()
	connectUserManager(ctx, users, a.uid, a.unit)
	rs := pipeline.Suggest(ctx, []suggest.UnitAggregate{recs}, userProps{users}, suggest.Options{
		Table: a.t, AllowRisky: allowRisky, Allow: allowed, Generator: buildinfo.Generator(),
	})
	var buf bytes.Buffer
	if err := suggest.RenderJSON(&buf, []suggest.Suggestion{rs[0].Suggestion}); err != nil {
		return err
	}
	s, err := apply.DecodeFor(&buf, a.unit, "", a.uid)
	if err != nil {
		return err
	}
	plan, err := apply.Build(s, apply.Options{Table: a.t, Allow: allowed, AllowRisky: allowRisky})
	if err != nil {
		return err
	}
	if err := a.lookupUser(); err != nil {
		return err
	}
	if err := a.connectUser(ctx); err != nil {
		return err
	}
	defer a.close()
	return a.apply(ctx, plan, yes)
}

// lookupUser finds the user whose home the drop-in goes to (not with
// --all-users: /etc/systemd/user is root's).
func (a *applier) lookupUser() error {
	if a.allUsers {
		return nil
	}
	u, err := apply.LookupUser(a.uid)
	if err != nil {
		return err
	}
	if _, err := apply.UserPath(u.Home, a.unit); err != nil {
		return fmt.Errorf("user %d: %w; --all-users writes /etc/systemd/user instead", a.uid, err)
	}
	a.asUser = &u
	return nil
}

// connectUser connects to user uid's service manager on its private
// socket (only root and that user may).
func (a *applier) connectUser(ctx context.Context) error {
	conn, err := unitprops.DialUserManager(ctx, a.uid)
	if err != nil {
		return fmt.Errorf("cannot reach user %d's service manager: %w", a.uid, err)
	}
	a.conn = conn
	a.reload = func(ctx context.Context) error { return apply.Reload(ctx, conn) }
	a.restartF = func(ctx context.Context) (apply.Outcome, error) { return apply.Restart(ctx, conn, a.unit, a.timeout) }
	a.props = unitprops.NewUserDBus(a.uid, unitprops.DBusOptions{Table: a.t, CallTimeout: 10 * time.Second})
	return nil
}

// readFile reads the drop-in at path (as the user below a home).
func (a *applier) readFile(path string) (content string, exists, dirExists bool, err error) {
	if a.asUser != nil {
		return a.asUser.ReadAs(path)
	}
	switch b, err := os.ReadFile(path); {
	case err == nil:
		return string(b), true, true, nil
	case errors.Is(err, os.ErrNotExist):
		_, serr := os.Stat(filepath.Dir(path))
		return "", false, serr == nil, nil
	default:
		return "", false, false, err
	}
}

// writeFile writes the drop-in atomically (as the user below a home).
func (a *applier) writeFile(path, content string) error {
	var err error
	if a.asUser != nil {
		_, err = a.asUser.WriteAs(path, content)
	} else {
		_, err = apply.Write(path, content)
	}
	return err
}

// removeFile removes the drop-in apply wrote (as the user below a home).
func (a *applier) removeFile(path string) (bool, error) {
	if a.asUser == nil {
		return apply.Remove(path, a.unit, a.t)
	}
	old, exists, _, err := a.asUser.ReadAs(path)
	if err != nil || !exists {
		return false, err
	}
	f, err := apply.Parse(old, a.fileUnit(), a.t)
	if err != nil {
		return false, err
	}
	return a.asUser.RemoveAs(path, old, f.CreatedDir)
}
