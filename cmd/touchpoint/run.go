package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"

	"touchpoint/config"
	"touchpoint/store"
)

// version is set at build time: -ldflags "-X main.version=...".
var version = "dev"

const usage = `Touchpoint keeps the logbook of every exchange with your contacts.

Usage:
  touchpoint serve                      run the daemon (web, API, SMTP, IMAP pollers)
  touchpoint user add --email E --name N [--role admin|staff]
                                        add a user; the password is read from stdin
  touchpoint token create --name N [--role admin|staff] [--user EMAIL]
                                        create an API token; prints the token alone
  touchpoint ingest [FILE|-]...         store raw messages (through the running daemon,
                                        or straight into the database when none runs)
  touchpoint check                      verify the database: pages and every index
  touchpoint backup FILE                write a consistent copy of the database (- for stdout)
  touchpoint restore BACKUP             put a backup in place of the database (daemon stopped;
                                        verified first, the old file kept aside)
  touchpoint compact [--keep-old]       rewrite the database into a smaller file (daemon stopped)
  touchpoint reindex                    rebuild the interaction indexes from the records, the
                                        repair for a damaged index block (daemon stopped)
  touchpoint seed --contacts N [--interactions M] [--seed S]
                                        fill an empty database with synthetic data for demos
                                        and benchmarks (daemon stopped)
  touchpoint mailbox test NAME          connect to an [[imap.mailbox]], log in, look at its
                                        folder and report (fetches and changes nothing)
  touchpoint config check               load and validate the configuration
  touchpoint config example             print an annotated example configuration
  touchpoint version                    print the version

Every command takes --config FILE (or TOUCHPOINT_CONFIG); every setting can
also come from a TOUCHPOINT_* environment variable (see config check).
`

// cli carries what a command needs from its environment, so tests can run
// commands in-process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            map[string]string
}

// exit codes
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
	// exitTempFail is EX_TEMPFAIL (sysexits.h): try again later. Postfix's
	// pipe transport defers the message on it instead of bouncing it.
	exitTempFail = 75
)

// usageError marks an error in how the command was called.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, env: config.EnvMap(environ)}
	err := c.dispatch(ctx, args)
	var ue usageError
	var tf tempFailure
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &tf):
		fmt.Fprintf(stderr, "touchpoint: %s (temporary: try again later)\n", err)
		return exitTempFail
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "touchpoint: %s\n\n%s", ue.msg, usage)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "touchpoint: %s\n", err)
		return exitError
	}
}

func (c *cli) dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageError{"no command given"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return c.serve(ctx, rest)
	case "user":
		if len(rest) == 0 || rest[0] != "add" {
			return usageError{"use: touchpoint user add --email E --name N [--role admin|staff]"}
		}
		return c.userAdd(ctx, rest[1:])
	case "token":
		if len(rest) == 0 || rest[0] != "create" {
			return usageError{"use: touchpoint token create --name N [--role admin|staff]"}
		}
		return c.tokenCreate(ctx, rest[1:])
	case "ingest":
		return c.ingest(ctx, rest)
	case "check":
		return c.check(ctx, rest)
	case "backup":
		return c.backup(ctx, rest)
	case "restore":
		return c.restore(ctx, rest)
	case "compact":
		return c.compact(ctx, rest)
	case "reindex":
		return c.reindex(ctx, rest)
	case "seed":
		return c.seedCmd(ctx, rest)
	case "mailbox":
		if len(rest) == 0 || rest[0] != "test" {
			return usageError{"use: touchpoint mailbox test NAME"}
		}
		return c.mailboxTest(ctx, rest[1:])
	case "config":
		if len(rest) == 0 || (rest[0] != "check" && rest[0] != "example") {
			return usageError{"use: touchpoint config check | touchpoint config example"}
		}
		if rest[0] == "example" {
			_, err := c.stdout.Write(config.ExampleTOML())
			return err
		}
		return c.configCheck(rest[1:])
	case "version", "--version", "-v":
		fmt.Fprintf(c.stdout, "touchpoint %s (%s, schema %d)\n", version, runtime.Version(), store.SchemaVersion())
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(c.stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

// flags makes a flag set with the shared --config flag.
func (c *cli) flags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	path := fs.String("config", c.env["TOUCHPOINT_CONFIG"], "configuration file (TOML)")
	return fs, path
}

// parseNoArgs is parse for a command that takes flags only.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fs.Name() + " takes no arguments"}
	}
	return nil
}

// parse parses flags; a flag error is a usage error (the flag package has
// already printed it).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}

// loadConfig loads and validates the configuration.
func (c *cli) loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path, c.env)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	return cfg, nil
}

func (c *cli) configCheck(args []string) error {
	fs, path := c.flags("config check")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.loadConfig(*path)
	if err != nil {
		return err
	}
	for _, name := range config.UnknownEnv(c.env) {
		if name != "TOUCHPOINT_CONFIG" {
			fmt.Fprintf(c.stderr, "warning: %s is not a Touchpoint setting\n", name)
		}
	}
	fmt.Fprintf(c.stdout, "configuration OK\n\n%s", cfg)
	return nil
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}
	if cfg.Log.Format == config.LogFormatJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// tempFailure marks an error that retrying later may cure (the database
// busy or failing to write); run exits with exitTempFail for it.
type tempFailure struct{ error }

func (e tempFailure) Unwrap() error { return e.error }
