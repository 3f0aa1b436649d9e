package unitprops

import (
	"context"
	"testing"
)

func BenchmarkFilesProps(b *testing.B) {
	f := fixtureFiles(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if p, err := f.Props(ctx, "web.service"); err != nil || !p.Found {
			b.Fatal(p, err)
		}
	}
}

func BenchmarkExecIndexBuild(b *testing.B) {
	f := fixtureFiles(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.ExecIndex(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookupExe(b *testing.B) {
	x, err := fixtureFiles(b).ExecIndex(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := x.LookupExe("/usr/sbin/web"); !ok {
			b.Fatal("not found")
		}
	}
}

// BenchmarkHostExecIndex indexes this machine's own unit files.
func BenchmarkHostExecIndex(b *testing.B) {
	f := NewFiles(testTable(), FilesOptions{})
	ctx := context.Background()
	units, _ := f.ListUnits(ctx)
	b.ReportMetric(float64(len(units)), "units")
	b.ReportAllocs()
	for b.Loop() {
		if x, _ := f.ExecIndex(ctx); x == nil {
			b.Fatal("nil index")
		}
	}
}
