package config

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

const exampleFile = "touchpoint.example.toml"

// TestExampleFileLoads checks that the shipped example loads, validates and
// documents exactly the defaults.
func TestExampleFileLoads(t *testing.T) {
	t.Parallel()
	c, err := Load(exampleFile, nil)
	if err != nil {
		t.Fatalf("Load(%s): %v", exampleFile, err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("example file values differ from Defaults():\n got %s\nwant %s", c, want)
	}
}

// TestExampleFileDocumentsEveryKey walks the Config struct by reflection and
// requires every scalar key to be set in the example file and its
// environment variable to be named in a comment.
func TestExampleFileDocumentsEveryKey(t *testing.T) {
	t.Parallel()
	text, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	var tree map[string]any
	if _, err := toml.Decode(string(text), &tree); err != nil {
		t.Fatal(err)
	}
	for _, b := range envBindings(Defaults()) {
		t.Run(b.key, func(t *testing.T) {
			t.Parallel()
			if !strings.Contains(string(text), "# env: "+b.env+"\n") &&
				!strings.Contains(string(text), "# env: "+b.env+" ") {
				t.Errorf("%s does not document %s for key %s", exampleFile, b.env, b.key)
			}
			if !hasKey(tree, strings.Split(b.key, ".")) {
				t.Errorf("%s does not set key %s", exampleFile, b.key)
			}
		})
	}
}

func hasKey(tree map[string]any, path []string) bool {
	v, ok := tree[path[0]]
	if !ok || len(path) == 1 {
		return ok
	}
	sub, ok := v.(map[string]any)
	return ok && hasKey(sub, path[1:])
}

// TestExampleMailboxBlock uncomments the [[imap.mailbox]] example and checks
// that it loads, validates and mentions every Mailbox key.
func TestExampleMailboxBlock(t *testing.T) {
	t.Parallel()
	text, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	in := false
	for line := range strings.Lines(string(text)) {
		if strings.HasPrefix(line, "# [[imap.mailbox]]") {
			in = true
		}
		if !in {
			continue
		}
		if !strings.HasPrefix(line, "# ") {
			break
		}
		block = append(block, strings.TrimPrefix(line, "# "))
	}
	if len(block) == 0 {
		t.Fatalf("%s has no commented-out [[imap.mailbox]] example", exampleFile)
	}
	src := strings.Join(block, "")
	for _, f := range reflect.VisibleFields(reflect.TypeFor[Mailbox]()) {
		if tag := f.Tag.Get("toml"); !strings.Contains(src, tag+" = ") {
			t.Errorf("mailbox example does not show key %s", tag)
		}
	}

	path := writeFile(t, "mailbox.toml", src)
	c, err := Load(path, nil)
	if err != nil {
		t.Fatalf("loading uncommented mailbox example: %v\n%s", err, src)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("uncommented mailbox example does not validate: %v\n%s", err, src)
	}
	if len(c.IMAP.Mailboxes) != 1 {
		t.Fatalf("got %d mailboxes, want 1", len(c.IMAP.Mailboxes))
	}
}

func TestExampleTOMLMatchesFile(t *testing.T) {
	t.Parallel()
	text, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(ExampleTOML()) != string(text) {
		t.Error("ExampleTOML() differs from the file")
	}
}
