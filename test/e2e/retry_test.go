package e2e

import (
	"reflect"
	"testing"

	"github.com/seccompwatch/seccompwatch/internal/testutil/vm"
)

// TestRetryPlan checks which scenarios a second boot runs after a guest
// kernel lockup and how its results replace the first boot's.
func TestRetryPlan(t *testing.T) {
	scenarios := []string{"scenarios/00-boot.sh", "scenarios/10-deb.sh", "scenarios/20-service.sh", "scenarios/92-python.sh", "scenarios/95-user-unit.sh"}
	first := &vm.Report{Results: []vm.Result{
		{Name: "00-boot", Ran: true}, {Name: "10-deb", Ran: true}, {Name: "20-service", Ran: true, ExitCode: 1},
		{Name: "92-python", Log: "partial"}, {Name: "95-user-unit"},
	}}
	again := unfinished(first, scenarios)
	if want := []string{"scenarios/00-boot.sh", "scenarios/10-deb.sh", "scenarios/92-python.sh", "scenarios/95-user-unit.sh"}; !reflect.DeepEqual(again, want) {
		t.Fatalf("unfinished = %v, want %v", again, want)
	}

	second := &vm.Report{Console: "second", Results: []vm.Result{
		{Name: "00-boot", Ran: true}, {Name: "10-deb", Ran: true, ExitCode: 2}, {Name: "92-python", Ran: true}, {Name: "95-user-unit", Ran: true, ExitCode: 1},
	}}
	m := merged(first, second)
	got := map[string]vm.Result{}
	var names []string
	for _, r := range m.Results {
		got[r.Name] = r
		names = append(names, r.Name)
	}
	if want := []string{"00-boot", "10-deb", "20-service", "92-python", "95-user-unit", "again-10-deb"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("merged names = %v, want %v", names, want)
	}
	if r := got["20-service"]; !r.Ran || r.ExitCode != 1 {
		t.Errorf("a scenario that finished in the first boot keeps its result: %+v", r)
	}
	if r := got["10-deb"]; r.ExitCode != 0 {
		t.Errorf("10-deb passed in the first boot: %+v", r)
	}
	if r := got["92-python"]; !r.Ran || r.ExitCode != 0 {
		t.Errorf("92-python from the second boot: %+v", r)
	}
	if r := got["95-user-unit"]; !r.Ran || r.ExitCode != 1 {
		t.Errorf("95-user-unit's failure in the second boot is kept: %+v", r)
	}
	if m.Console != "second" {
		t.Errorf("the report's console is the second boot's: %q", m.Console)
	}
}
