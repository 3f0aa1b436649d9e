package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/seccompwatch/seccompwatch/syscalls/internal/analyze"
)

// importLibseccomp turns libseccomp's src/syscalls.csv into the smaller CSV
// the tables subcommand reads: the name and the number columns of the ABIs
// seccompwatch supports, with a provenance header.
func importLibseccomp(in, out string, p provenance) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return fmt.Errorf("import-libseccomp: %w", err)
	}
	b, err := deriveNumbers(bytes.NewReader(data), p)
	if err != nil {
		return fmt.Errorf("import-libseccomp: %s: %w", in, err)
	}
	return writeFile(out, b)
}

var kernelRE = regexp.MustCompile(`^#syscall \(([^)]*)\)$`)

func deriveNumbers(r io.Reader, p provenance) ([]byte, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("parse csv: %w", err)
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("parse csv: too short")
	}
	m := kernelRE.FindStringSubmatch(rows[0][0])
	if m == nil {
		return nil, fmt.Errorf("parse csv: header does not start with \"#syscall (VERSION DATE)\"")
	}
	col := make(map[string]int)
	for i, h := range rows[0] {
		col[h] = i
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# seccompwatch syscall numbers, derived from libseccomp's src/syscalls.csv\n")
	fmt.Fprintf(&b, "# by \"go run ./internal/gen import-libseccomp\" (see syscalls/internal/gen/main.go).\n")
	fmt.Fprintf(&b, "# Only the number columns of the ABIs seccompwatch supports are kept, under\n")
	fmt.Fprintf(&b, "# libseccomp's column names; PNR means the ABI has no such syscall.\n")
	fmt.Fprintf(&b, "# source: libseccomp %s src/syscalls.csv\n", p.ref)
	fmt.Fprintf(&b, "# repo: %s\n", p.repo)
	fmt.Fprintf(&b, "# commit: %s\n", p.commit)
	fmt.Fprintf(&b, "# date: %s\n", p.date)
	fmt.Fprintf(&b, "# kernel: %s\n", m[1])
	w := csv.NewWriter(&b)
	header := []string{"name"}
	var idx []int
	for _, a := range abis {
		i, ok := col[a.column]
		if !ok {
			return nil, fmt.Errorf("parse csv: no column %q", a.column)
		}
		header = append(header, a.column)
		idx = append(idx, i)
	}
	if err := w.Write(header); err != nil {
		return nil, err
	}
	for _, row := range rows[1:] {
		rec := []string{row[0]}
		for _, i := range idx {
			if i >= len(row) {
				return nil, fmt.Errorf("parse csv: row %s is short", row[0])
			}
			rec = append(rec, row[i])
		}
		if err := w.Write(rec); err != nil {
			return nil, err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, err
	}
	// Check that what we wrote reads back.
	if _, err := readNumbers(bytes.NewReader(b.Bytes())); err != nil {
		return nil, fmt.Errorf("derived table: %w", err)
	}
	return b.Bytes(), nil
}

// importSystemd extracts the filter groups from systemd's seccomp-util.c
// (the syscall_filter_sets[] array) and syscall-list.txt (which the build
// turns into @known's list), and writes them in the layout of
// `systemd-analyze syscall-filter` with a provenance header.
func importSystemd(cfile, listFile, out string, p provenance) error {
	c, err := os.ReadFile(cfile)
	if err != nil {
		return fmt.Errorf("import-systemd: %w", err)
	}
	list, err := os.ReadFile(listFile)
	if err != nil {
		return fmt.Errorf("import-systemd: %w", err)
	}
	groups, err := parseFilterSets(bytes.NewReader(c), strings.Fields(string(list)))
	if err != nil {
		return fmt.Errorf("import-systemd: %s: %w", cfile, err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# systemd %s syscall filter groups, in the layout of `systemd-analyze syscall-filter`.\n", strings.TrimPrefix(p.ref, "v"))
	fmt.Fprintf(&b, "# Extracted by \"go run ./internal/gen import-systemd\" from src/shared/seccomp-util.c\n")
	fmt.Fprintf(&b, "# (syscall_filter_sets[]) and src/basic/syscall-list.txt (@known) of\n")
	fmt.Fprintf(&b, "# repository %s, tag %s, commit %s (%s).\n", p.repo, p.ref, p.commit, p.date)
	writeAnalyze(&b, groups)
	// Check that what we wrote reads back the same.
	back, err := analyze.Parse(bytes.NewReader(b.Bytes()))
	if err != nil || len(back) != len(groups) {
		return fmt.Errorf("import-systemd: output does not read back: %v", err)
	}
	return writeFile(out, b.Bytes())
}

// writeAnalyze prints groups the way systemd-analyze syscall-filter does.
func writeAnalyze(w io.Writer, groups []analyze.Group) {
	for _, g := range groups {
		fmt.Fprintf(w, "\n%s\n", g.Name)
		if g.Description != "" {
			fmt.Fprintf(w, "    # %s\n", g.Description)
		}
		for _, e := range g.Entries {
			fmt.Fprintf(w, "    %s\n", e)
		}
	}
}

var (
	setStartRE = regexp.MustCompile(`^\[SYSCALL_FILTER_SET_[A-Z0-9_]+\]\s*=\s*\{$`)
	nameRE     = regexp.MustCompile(`^\.name\s*=\s*"(@[a-z0-9-]+)",?$`)
	helpRE     = regexp.MustCompile(`^\.help\s*=\s*"((?:[^"\\]|\\.)*)",?$`)
	entryRE    = regexp.MustCompile(`^"([A-Za-z0-9_@-]+)\\0"\s*(?:/\*.*\*/)?$`)
)

// parseFilterSets reads the syscall_filter_sets[] initializer from systemd's
// C source. Each element has .name, .help and a .value made of "entry\0"
// string literals; `#include "syscall-list.h"` stands for the known list.
// Preprocessor conditionals are ignored (their entries are kept), which is
// what systemd-analyze on the common architectures prints.
func parseFilterSets(r io.Reader, known []string) ([]analyze.Group, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var (
		groups    []analyze.Group
		cur       *analyze.Group
		in        bool
		inComment bool
		lineNo    int
	)
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if !in {
			if strings.Contains(line, "syscall_filter_sets[") && strings.HasSuffix(line, "{") {
				in = true
			}
			continue
		}
		if inComment {
			if strings.Contains(line, "*/") {
				inComment = false
			}
			continue
		}
		switch {
		case line == "":
		case strings.HasPrefix(line, "/*"):
			inComment = !strings.Contains(line, "*/")
		case line == "};":
			if cur != nil {
				return nil, fmt.Errorf("line %d: array ends inside %s", lineNo, cur.Name)
			}
			if len(groups) == 0 {
				return nil, fmt.Errorf("no groups found")
			}
			return groups, nil
		case setStartRE.MatchString(line):
			if cur != nil {
				return nil, fmt.Errorf("line %d: group starts inside %s", lineNo, cur.Name)
			}
			groups = append(groups, analyze.Group{})
			cur = &groups[len(groups)-1]
		case cur == nil:
			return nil, fmt.Errorf("line %d: unexpected %q outside a group", lineNo, line)
		case line == "}," || line == "}":
			if cur.Name == "" {
				return nil, fmt.Errorf("line %d: group without .name", lineNo)
			}
			cur = nil
		case nameRE.MatchString(line):
			cur.Name = nameRE.FindStringSubmatch(line)[1]
		case helpRE.MatchString(line):
			cur.Description = strings.ReplaceAll(helpRE.FindStringSubmatch(line)[1], `\"`, `"`)
		case line == ".value =":
		case entryRE.MatchString(line):
			cur.Entries = append(cur.Entries, entryRE.FindStringSubmatch(line)[1])
		case line == `#include "syscall-list.h"`:
			if len(known) == 0 {
				return nil, fmt.Errorf("line %d: syscall-list.h included but the known list is empty", lineNo)
			}
			cur.Entries = append(cur.Entries, known...)
		case strings.HasPrefix(line, "#if"), strings.HasPrefix(line, "#elif"),
			strings.HasPrefix(line, "#else"), strings.HasPrefix(line, "#endif"):
		default:
			return nil, fmt.Errorf("line %d: unexpected %q in %s", lineNo, line, cur.Name)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return nil, fmt.Errorf("no complete syscall_filter_sets[] array found")
}
