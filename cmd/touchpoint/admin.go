package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"touchpoint/config"
	"touchpoint/store"
)

func (c *cli) userAdd(ctx context.Context, args []string) error {
	fs, path := c.flags("user add")
	email := fs.String("email", "", "the user's email address (required)")
	name := fs.String("name", "", "the user's name (required)")
	role := fs.String("role", store.RoleStaff, "admin or staff")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *email == "" || *name == "" || fs.NArg() > 0 {
		return usageError{"user add needs --email and --name (and nothing else)"}
	}
	pw, err := c.readPassword()
	if err != nil {
		return err
	}
	return c.withAdmin(*path, func(_ *config.Config, a admin) error {
		u := &store.User{Name: *name, Emails: []string{*email}, Role: *role}
		if err := a.AddUser(ctx, u, pw); err != nil {
			return fmt.Errorf("add user: %w", err)
		}
		fmt.Fprintf(c.stdout, "added %s %s <%s> (id %d)\n", u.Role, u.Name, u.Emails[0], u.ID)
		return nil
	})
}

// readPassword reads the password from stdin: the first line, or with a
// prompt and no echo when stdin is a terminal.
func (c *cli) readPassword() (string, error) {
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(c.stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.stderr)
		return string(b), err
	}
	line, err := bufio.NewReader(io.LimitReader(c.stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on stdin (echo the password | touchpoint user add ...)")
	}
	return line, nil
}

func (c *cli) tokenCreate(ctx context.Context, args []string) error {
	fs, path := c.flags("token create")
	name := fs.String("name", "", "what the token is for (required)")
	role := fs.String("role", store.RoleStaff, "admin or staff")
	user := fs.String("user", "", "tie the token to this user's email: its writes are theirs")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *name == "" || fs.NArg() > 0 {
		return usageError{"token create needs --name"}
	}
	return c.withAdmin(*path, func(_ *config.Config, a admin) error {
		plain, err := a.CreateToken(ctx, *name, *role, *user)
		if err != nil {
			return fmt.Errorf("create token: %w", err)
		}
		fmt.Fprintln(c.stdout, plain)
		return nil
	})
}

func (c *cli) backup(ctx context.Context, args []string) error {
	fs, path := c.flags("backup")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"backup needs one FILE (or - for stdout)"}
	}
	dst := fs.Arg(0)
	return c.withAdmin(*path, func(_ *config.Config, a admin) error {
		return c.writeBackup(ctx, a, dst)
	})
}

// writeBackup copies the database to dst ("-" for stdout).
func (c *cli) writeBackup(ctx context.Context, a admin, dst string) error {
	if dst == "-" {
		return a.Backup(ctx, c.stdout)
	}
	// Write beside the target and rename, so FILE is whole or absent.
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".touchpoint-backup-*")
	if err != nil {
		return fmt.Errorf("create backup: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = a.Backup(ctx, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return fmt.Errorf("backup to %s: %w", dst, err)
	}
	st, _ := os.Stat(dst)
	fmt.Fprintf(c.stderr, "backup written to %s (%d bytes)\n", dst, st.Size())
	return nil
}

func (c *cli) check(ctx context.Context, args []string) error {
	fs, path := c.flags("check")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	return c.withAdmin(*path, func(_ *config.Config, a admin) error {
		if err := a.Check(ctx); err != nil {
			return fmt.Errorf("database check failed:\n%w", err)
		}
		fmt.Fprintln(c.stdout, "database OK: pages consistent, every index matches its records")
		return nil
	})
}
