package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluicemq/sluice/harness"
)

// runProfile is `sluicebench profile` (make profile).
func runProfile(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("profile", flag.ContinueOnError)
	workload := fs.String("workload", "harness/workloads/profile-16p-1kb-acks-all.yaml", "workload YAML file")
	name := fs.String("name", "", "profile set name: profiles/<name>/ (default: the workload's name)")
	out := fs.String("out", "profiles", "parent directory of the profile sets")
	sluiceBin := fs.String("sluice-bin", "", "a built sluice binary (default: build cmd/sluice)")
	serveArgs := fs.String("serve-args", "", "extra `sluice serve` flags, space separated")
	if !parse(fs, args) {
		return 2
	}
	w, err := harness.LoadWorkload(*workload)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if *name == "" {
		*name = w.Name
	}
	tf := &targetFlags{sluiceBin: *sluiceBin}
	cleanup, err := tf.buildOnce(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return 2
	}
	defer cleanup()
	dir := filepath.Join(*out, *name)
	t := &harness.ProcessTarget{Binary: tf.sluiceBin, Args: strings.Fields(*serveArgs)}
	res, err := harness.CaptureProfiles(ctx, w, t, dir, harness.Options{Progress: harness.ProgressWriter(os.Stderr), Logf: logf})
	if res != nil {
		printResult(res)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		if res == nil {
			return 2
		}
	}
	fmt.Printf("wrote %s (summary: %s)\n", dir, filepath.Join(dir, "summary.txt"))
	if err != nil || !res.Sluice.Passed {
		return 1
	}
	return 0
}
