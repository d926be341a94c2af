package tests

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// smallDisk mounts a fresh size-byte ext4 filesystem (no blocks reserved
// for root) on a loop device and returns its mount point; cleanup unmounts
// it. Skipped where that is impossible (not root, no loop devices).
func smallDisk(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a loop filesystem")
	}
	for _, tool := range []string{"mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "disk.img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a loop filesystem here: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		// The daemon is stopped by an earlier cleanup (LIFO).
		for i := 0; ; i++ {
			out, err := exec.Command("umount", mnt).CombinedOutput()
			if err == nil {
				return
			}
			if i == 20 {
				t.Errorf("umount %s: %v\n%s", mnt, err, out)
				exec.Command("umount", "-l", mnt).Run()
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return mnt
}

// fill writes 64 KiB files into dir until the filesystem is full and
// returns their names, so that space can be given back piece by piece.
func fill(t *testing.T, dir string) []string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	var files []string
	for i := 0; ; i++ {
		name := filepath.Join(dir, fmt.Sprintf("fill-%05d", i))
		f, err := os.Create(name)
		if err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return files
			}
			t.Fatal(err)
		}
		files = append(files, name)
		_, err = f.Write(chunk)
		if err == nil {
			err = f.Sync()
		}
		f.Close()
		if errors.Is(err, syscall.ENOSPC) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestDiskFull runs the daemon on a tiny filesystem and fills it: while the
// disk is full every message gets a temporary (4xx) answer, never a 5xx
// and never a 250 for mail not stored; the daemon keeps running and takes
// mail again, without a restart, once space comes back; nothing
// acknowledged is lost and the database checks clean.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	mnt := smallDisk(t, 32<<20)
	in := newMailInstall(t)
	in.dataDir = filepath.Join(mnt, "data")
	in.vars["TOUCHPOINT_DATA_DIR"] = in.dataDir
	in.vars["TOUCHPOINT_LOG_LEVEL"] = "info"
	// Refuse at MAIL FROM below 1.5 × 64 KiB free.
	in.vars["TOUCHPOINT_SMTP_MAX_MESSAGE_BYTES"] = "65536"
	d := in.start(t)
	tok := in.token(t, "--name", "disk", "--role", "admin")
	c := d.as(t, tok)
	c.createContact(map[string]any{"name": "Yossi Levi", "emails": []string{"yossi@example.net"}})
	addr := d.smtpAddr(t)

	var acked []ackedMsg
	n := 0
	// send delivers one message and sorts its answer.
	send := func() (code int) {
		n++
		m := toYossi(fmt.Sprintf("full-%d@org.org", n), fmt.Sprintf("Disk test %d", n))
		m.body = strings.Repeat("Some text so that each message takes room. ", 40)
		err := sendSMTP(addr, sarahEmail, []string{systemAddress}, m.bytes(), nil)
		var se *smtp.SMTPError
		switch {
		case err == nil:
			acked = append(acked, ackedMsg{id: m.id, raw: m.bytes()})
			return 250
		case errors.As(err, &se):
			if se.Code < 400 || se.Code >= 500 {
				t.Fatalf("message %d: %v: a full disk must get a temporary answer", n, err)
			}
			return se.Code
		default:
			t.Fatalf("message %d: %v", n, err)
			return 0
		}
	}
	for range 10 {
		if code := send(); code != 250 {
			t.Fatalf("before the disk is full: %d", code)
		}
	}

	// Full: refused at MAIL FROM (452) or at the commit (451).
	spare := filepath.Join(mnt, "spare")
	files := fill(t, spare)
	time.Sleep(1100 * time.Millisecond) // the listener caches free space for 1 s
	answers := map[int]int{}
	for range 30 {
		answers[send()]++
	}
	if answers[250] != 0 {
		t.Errorf("on a full disk %d messages got 250", answers[250])
	}
	// Almost full: a little room, so that MAIL FROM passes and the
	// database runs out of space while committing.
	for _, f := range files[len(files)-4:] {
		os.Remove(f)
	}
	files = files[:len(files)-4]
	time.Sleep(1100 * time.Millisecond) // the listener caches free space for 1 s
	for i := 0; i < 300 && answers[451]+answers[452] < 40; i++ {
		answers[send()]++
	}
	t.Logf("answers while (almost) full: %v", answers)
	// 452 comes from the free-space check at MAIL FROM; 451 from a commit
	// that ran out of space, which happens when the disk fills between
	// two reads of the free space (cached for a second): usual, but
	// timing-dependent, so only the temporary nature is required.
	if answers[452] == 0 {
		t.Fatalf("no 452: the disk never looked full to the listener; answers %v", answers)
	}
	select {
	case <-d.exited:
		t.Fatalf("the daemon died on a full disk:\n%s", d.stderr.String())
	default:
	}

	// Space comes back: mail flows again without a restart.
	for _, f := range files {
		os.Remove(f)
	}
	deadline := time.Now().Add(30 * time.Second)
	for send() != 250 {
		if time.Now().After(deadline) {
			t.Fatal("30 s after space came back, mail is still refused")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for range 10 {
		if code := send(); code != 250 {
			t.Fatalf("after recovery: %d", code)
		}
	}

	// Nothing acknowledged is missing, nothing is stored twice, and the
	// file is consistent. Mail answered 250 while the database could not
	// be written waited in the journal; it is applied once space is back.
	d.settle(t)
	if lost := crashCheck(t, c, acked, acked[:5]); len(lost) > 0 {
		t.Fatalf("%d of %d acknowledged messages are not stored: %v", len(lost), len(acked), lost[:min(len(lost), 5)])
	}
	d.stop()
	if out := in.mustRun(t, "", "check"); !strings.Contains(out.stdout, "database OK") {
		t.Fatalf("touchpoint check after the disk was full: %s", out)
	}
}
