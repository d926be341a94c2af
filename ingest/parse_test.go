package ingest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"touchpoint/matcher"
	"touchpoint/store"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testAddr(name, email string) matcher.Address { return matcher.Address{Name: name, Email: email} }

func testAddrs(as ...matcher.Address) []matcher.Address { return as }

// checkMessage compares every field of got with want, dates by instant.
func checkMessage(t *testing.T, path string, got, want *matcher.Message) {
	t.Helper()
	if got == nil || want == nil {
		if got != want {
			t.Errorf("%s = %+v, want %+v", path, got, want)
		}
		return
	}
	if !got.Date.Equal(want.Date) {
		t.Errorf("%s.Date = %v, want %v", path, got.Date, want.Date)
	}
	checkMessage(t, path+".Forwarded", got.Forwarded, want.Forwarded)
	g, w := *got, *want
	g.Date, w.Date, g.Forwarded, w.Forwarded = time.Time{}, time.Time{}, nil, nil
	gv, wv := reflect.ValueOf(g), reflect.ValueOf(w)
	for i := range gv.NumField() {
		if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
			t.Errorf("%s.%s = %#v\nwant %#v", path, gv.Type().Field(i).Name, gv.Field(i).Interface(), wv.Field(i).Interface())
		}
	}
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestParseFixtures(t *testing.T) {
	t.Parallel()
	sarah := testAddr("Sarah Levi", "sarah.levi@ourorg.example")
	yossi := testAddr("Yossi Cohen", "yossi@acme.example")
	crm := testAddr("", "crm@ourorg.example")
	tests := []struct {
		file    string
		want    *matcher.Message
		wantErr bool
	}{
		{file: "bcc-outbound.eml", want: &matcher.Message{
			MessageID: "CAF=x7Qk1+9pB@mail.ourorg.example",
			From:      testAddrs(sarah),
			To:        testAddrs(yossi),
			Subject:   "Proposal for the Q2 rollout",
			Date:      mustTime(t, "2025-03-03T10:15:00+02:00"),
			Text:      "Hi Yossi,\n\nAs discussed on Thursday, here is our proposal for the Q2 rollout:\n40 seats, onboarding in April, training on site.\n\nBest,\nSarah",
		}},
		{file: "reply-cc.eml", want: &matcher.Message{
			MessageID:  "20250303100105.77F3@mx.acme.example",
			From:       testAddrs(testAddr("Cohen, Yossi", "yossi@acme.example")),
			To:         testAddrs(sarah),
			Cc:         testAddrs(testAddr("Levi, Dana", "dana@ourorg.example"), crm),
			Subject:    "RE: Proposal for the Q2 rollout",
			Date:       mustTime(t, "2025-03-03T12:01:05+02:00"),
			InReplyTo:  "CAF=x7Qk1+9pB@mail.ourorg.example",
			References: []string{"older-1@mail.ourorg.example", "CAF=x7Qk1+9pB@mail.ourorg.example"},
			Text:       "Hi Sarah,\n\nThanks — we’re happy with 40 seats. Could onboarding start on April 7?\n\nYossi\n\n> As discussed on Thursday, here is our proposal for the Q2 rollout:\n> 40 seats, onboarding in April, training on site.",
		}},
		{file: "html-only.eml", want: &matcher.Message{
			MessageID: "inv-2025-031@billing.ourorg.example",
			From:      testAddrs(testAddr("Ourorg Billing", "billing@ourorg.example")),
			To:        testAddrs(testAddr("", "yossi@acme.example")),
			Subject:   "Invoice 2025-031",
			Date:      mustTime(t, "2025-03-04T08:00:00Z"),
			Text:      "Invoice 2025-031\n\nDear Yossi,\nyour invoice is ready. Amount due: €1,200.00 & no VAT.\n\n- Onboarding, April 7\n- Training – on site\n\nSeats 40\nPrice €30\n\nPay online: open the invoice.\n\nCafé Ourorg <billing>",
		}},
		{file: "alternative-attachment.eml", want: &matcher.Message{
			MessageID: "quote-42.1741000000@ourorg.example",
			From:      testAddrs(sarah),
			To:        testAddrs(yossi),
			Cc:        testAddrs(crm),
			Subject:   "Quote 42",
			Date:      mustTime(t, "2025-03-03T15:30:00+02:00"),
			Text:      "Hi Yossi, the quote is attached.\nSarah",
			Attachments: []store.Attachment{
				{Name: "", ContentType: "image/png", Size: 69},
				{Name: "Quote № 42 – Acme.pdf", ContentType: "application/pdf", Size: 1083},
			},
		}},
		{file: "hebrew.eml", want: &matcher.Message{
			MessageID:   "hb-1@acme.example",
			From:        testAddrs(testAddr("יוסי כהן", "yossi@acme.example")),
			To:          testAddrs(testAddr("שרה לוי", "sarah.levi@ourorg.example")),
			Subject:     "הצעת מחיר לפרויקט",
			Date:        mustTime(t, "2025-03-05T09:12:44+02:00"),
			Text:        "שלום שרה,\n\nמצורפת הצעת המחיר המעודכנת לפרויקט.\nנשמח לקבל תשובה עד יום חמישי.\n\nבברכה,\nיוסי",
			Attachments: []store.Attachment{{Name: "הצעת מחיר.pdf", ContentType: "application/pdf", Size: 140}},
		}},
		{file: "japanese.eml", want: &matcher.Message{
			MessageID: "jp.20250306@example.co.jp",
			From:      testAddrs(testAddr("山田太郎", "taro.yamada@example.co.jp")),
			To:        testAddrs(testAddr("", "sarah.levi@ourorg.example")),
			Subject:   "お見積もりのご依頼",
			Date:      mustTime(t, "2025-03-06T10:00:00+09:00"),
			Text:      "鈴木様\n\nいつもお世話になっております。\nお見積もりの件、よろしくお願いいたします。\n\n山田太郎",
		}},
		{file: "gmail-forward.eml", want: &matcher.Message{
			MessageID: "CAGm+fwd=Q1w@mail.gmail.com",
			From:      testAddrs(sarah),
			To:        testAddrs(crm),
			Subject:   "Fwd: Quote request",
			Date:      mustTime(t, "2025-03-03T11:40:12+02:00"),
			Text:      "FYI, Yossi's request below.\n\n---------- Forwarded message ---------\nFrom: Yossi Cohen <yossi@acme.example>\nDate: Mon, Mar 3, 2025 at 9:02\u202fAM\nSubject: Quote request\nTo: Sarah Levi <sarah.levi@ourorg.example>\nCc: <dana@ourorg.example>\n\n\nHi Sarah,\nCould you send us a quote for 40 seats?\n\nThanks,\nYossi",
			Forwarded: &matcher.Message{
				From:    testAddrs(yossi),
				To:      testAddrs(sarah),
				Cc:      testAddrs(testAddr("", "dana@ourorg.example")),
				Subject: "Quote request",
				Date:    mustTime(t, "2025-03-03T09:02:00Z"),
				Text:    "Hi Sarah,\nCould you send us a quote for 40 seats?\n\nThanks,\nYossi",
			},
		}},
		{file: "outlook-forward.eml", want: &matcher.Message{
			MessageID: "AM0PR01MB12340A1B2C3D4E5F6@am0pr01mb1234.eurprd01.prod.outlook.com",
			From:      testAddrs(testAddr("Dana Mizrahi", "dana@ourorg.example")),
			To:        testAddrs(testAddr("crm@ourorg.example", "crm@ourorg.example")),
			Subject:   "FW: Order 1234",
			Date:      mustTime(t, "2025-03-04T07:04:58Z"),
			Text:      "Please log this one.\n\nDana\n\n-----Original Message-----\nFrom: Yossi Cohen [mailto:yossi@acme.example] \nSent: Monday, March 3, 2025 8:47 PM\nTo: Dana Mizrahi; Sarah Levi <sarah.levi@ourorg.example>\nSubject: Order 1234\n\nHi Dana,\n\nWe’d like to order 40 seats – invoice to accounts@acme.example.\n\nYossi",
			Forwarded: &matcher.Message{
				From:    testAddrs(yossi),
				To:      testAddrs(sarah), // "Dana Mizrahi" has no address
				Subject: "Order 1234",
				Date:    mustTime(t, "2025-03-03T20:47:00Z"),
				Text:    "Hi Dana,\n\nWe’d like to order 40 seats – invoice to accounts@acme.example.\n\nYossi",
			},
		}},
		{file: "apple-forward.eml", want: &matcher.Message{
			MessageID: "8F3C2B1A-1D2E-4F5A-9B8C-7D6E5F4A3B2C@ourorg.example",
			From:      testAddrs(sarah),
			To:        testAddrs(crm),
			Subject:   "Fwd: Site visit",
			Date:      mustTime(t, "2025-03-04T15:02:11+02:00"),
			Text:      "> Begin forwarded message:\n> \n> From: Dana Mizrahi <dana@beta.example>\n> Subject: Site visit\n> Date: 4 March 2025 at 14:20:05 GMT+2\n> To: Sarah Levi <sarah.levi@ourorg.example>\n> \n> Hi Sarah, we can host the visit on the 12th.\n> Dana",
			Forwarded: &matcher.Message{
				From:    testAddrs(testAddr("Dana Mizrahi", "dana@beta.example")),
				To:      testAddrs(sarah),
				Subject: "Site visit",
				Date:    mustTime(t, "2025-03-04T14:20:05+02:00"),
				Text:    "Hi Sarah, we can host the visit on the 12th.\nDana",
			},
		}},
		{file: "rfc822-forward.eml", want: &matcher.Message{
			MessageID:   "fwd-att-1@ourorg.example",
			From:        testAddrs(testAddr("Dana Mizrahi", "dana@ourorg.example")),
			To:          testAddrs(crm),
			Subject:     "Fwd: Seat list",
			Date:        mustTime(t, "2025-03-03T09:00:00+02:00"),
			Text:        "Forwarding Yossi's seat list.",
			Attachments: []store.Attachment{{Name: "Seat list.eml", ContentType: "message/rfc822", Size: 586}},
			Forwarded: &matcher.Message{
				MessageID:   "orig-77@acme.example",
				From:        testAddrs(yossi),
				To:          testAddrs(testAddr("Dana Mizrahi", "dana@ourorg.example")),
				Subject:     "Seat list",
				Date:        mustTime(t, "2025-03-02T17:20:00+02:00"),
				Text:        "Dana, the seat list is attached.",
				Attachments: []store.Attachment{{Name: "seats.csv", ContentType: "text/csv", Size: 75}},
			},
		}},
		{file: "out-of-office.eml", want: &matcher.Message{
			MessageID:        "a1b2c3-oof@acme.example",
			From:             testAddrs(yossi),
			To:               testAddrs(sarah),
			Subject:          "Automatic reply: Proposal for the Q2 rollout",
			Date:             mustTime(t, "2025-03-03T08:15:08Z"),
			InReplyTo:        "CAF=x7Qk1+9pB@mail.ourorg.example",
			AutoSubmitted:    "auto-replied",
			AutoReplyHeaders: true,
			Text:             "I am out of the office until March 10 with limited access to email.\nFor urgent matters please contact Rina (rina@acme.example).",
		}},
		{file: "dsn-bounce.eml", want: &matcher.Message{
			MessageID:     "20250303081600.4Z7@mail.ourorg.example",
			From:          testAddrs(testAddr("Mail Delivery System", "mailer-daemon@mail.ourorg.example")),
			To:            testAddrs(testAddr("", "sarah.levi@ourorg.example")),
			Subject:       "Undelivered Mail Returned to Sender",
			Date:          mustTime(t, "2025-03-03T10:16:00+02:00"),
			AutoSubmitted: "auto-replied",
			Report:        true,
			Text:          "This is the mail system at host mail.ourorg.example.\n\nI'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients.\n\n<yosi@acme.example>: host mx.acme.example[198.51.100.7] said: 550 5.1.1\n    <yosi@acme.example>: Recipient address rejected: User unknown",
			Attachments: []store.Attachment{
				{ContentType: "message/delivery-status", Size: 260},
				{ContentType: "message/rfc822", Size: 212},
			},
			Forwarded: &matcher.Message{
				MessageID: "typo-1@ourorg.example",
				From:      testAddrs(sarah),
				To:        testAddrs(testAddr("", "yosi@acme.example")),
				Subject:   "Proposal for the Q2 rollout",
				Date:      mustTime(t, "2025-03-03T10:15:50+02:00"),
				Text:      "Hi Yossi, resending the proposal.",
			},
		}},
		{file: "mailing-list.eml", want: &matcher.Message{
			MessageID:       "release-2025-03@lists.acme.example",
			From:            testAddrs(testAddr("Acme Product Team", "news@acme.example")),
			Sender:          &matcher.Address{Name: "users", Email: "users-bounces@lists.acme.example"},
			ReplyTo:         testAddrs(testAddr("", "users@lists.acme.example")),
			To:              testAddrs(testAddr("", "users@lists.acme.example")),
			Subject:         "[acme-users] March release notes",
			Date:            mustTime(t, "2025-03-05T16:00:00Z"),
			Precedence:      "bulk",
			ListID:          "Acme users <users.lists.acme.example>",
			ListUnsubscribe: true,
			Text:            "What's new in March:\n\n* Faster exports for large teams, with the new streaming export engine.\n* Dark mode.\n\n-- \nAcme Product Team",
		}},
		{file: "no-message-id.eml", want: &matcher.Message{
			From:    testAddrs(testAddr("Rina Azulay", "rina@acme.example")),
			To:      testAddrs(sarah),
			Subject: "Call tomorrow?",
			Date:    mustTime(t, "2025-03-06T18:30:00+02:00"),
			Text:    "Hi Sarah, do you have 15 minutes tomorrow at 10?\nRina",
		}},
		{file: "address-lists.eml", want: &matcher.Message{
			MessageID: "addr-test@lists.example",
			From:      testAddrs(testAddr("Renée Dürr", "renee@beta.example")),
			Sender:    &matcher.Address{Name: "Assistant (on behalf)", Email: "assist@beta.example"},
			ReplyTo:   testAddrs(testAddr("Dürr, Renée", "renee.d@beta.example")),
			Cc: testAddrs(
				testAddr("Cohen, Yossi", "yossi@acme.example"),
				testAddr("Rina", "rina@acme.example"),
				testAddr("", "plain@gamma.example"),
				testAddr("Mystery Name", "mystery@delta.example"), // unknown charset: raw bytes kept
			),
			Subject:          "Addresses ✓",
			Date:             mustTime(t, "2025-03-07T09:00:00+01:00"),
			AutoReplyHeaders: true,
			Text:             "Addresses.",
		}},
		{file: "garbage.eml", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			m, err := Parse(readFixture(t, tt.file), DefaultLimits())
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Parse(%s) = %+v, want an error", tt.file, m)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%s): %v", tt.file, err)
			}
			checkMessage(t, "Message", m, tt.want)
		})
	}
}

// TestFixturesAtLeastTwelve keeps the fixture set from shrinking.
func TestFixturesAtLeastTwelve(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/*.eml")
	if len(files) < 12 {
		t.Fatalf("%d fixtures, want at least 12", len(files))
	}
}

// nested builds a message with n levels of multipart/mixed around a text part.
func nested(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.com\r\nSubject: deep\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i-1, i)
	}
	fmt.Fprintf(&b, "--b%d\r\nContent-Type: text/plain\r\n\r\nbottom\r\n", n-1)
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.Bytes()
}

// nestedMessages builds n message/rfc822 parts, each inside the last.
func nestedMessages(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "From: a%d@example.com\r\nContent-Type: message/rfc822\r\n\r\n", i)
	}
	b.WriteString("From: bottom@example.com\r\n\r\nbottom\r\n")
	return b.Bytes()
}

func manyParts(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n")
	for range n {
		b.WriteString("--x\r\nContent-Type: text/plain\r\n\r\np\r\n")
	}
	b.WriteString("--x--\r\n")
	return b.Bytes()
}

func TestParseHostile(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("0123456789", 500) // a 5,000-character line
	tests := []struct {
		name  string
		raw   func() []byte
		check func(t *testing.T, m *matcher.Message, err error)
	}{
		{"bare LF multipart", func() []byte {
			return []byte("From: a@example.com\nContent-Type: multipart/alternative; boundary=q\n\n--q\nContent-Type: text/plain\n\nline one\nline two\n--q\nContent-Type: text/html\n\n<p>html</p>\n--q--\n")
		}, wantText("line one\nline two")},
		{"no MIME-Version, no Content-Type", func() []byte {
			return []byte("From: a@example.com\r\nSubject: hi\r\n\r\njust text\r\n")
		}, wantText("just text")},
		{"header only, no final newline", func() []byte {
			return []byte("From: a@example.com\r\nSubject: only a header")
		}, func(t *testing.T, m *matcher.Message, err error) {
			if err != nil || m.Subject != "only a header" || m.Text != "" {
				t.Fatalf("Parse = %+v, %v", m, err)
			}
		}},
		{"mbox From line", func() []byte {
			return []byte("From a@example.com Mon Mar  3 10:00:00 2025\nFrom: a@example.com\nSubject: mbox\n\nbody\n")
		}, wantText("body")},
		{"broken base64 keeps what decodes", func() []byte {
			return []byte("From: a@example.com\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8g!!*d29y\r\nbGQ")
		}, wantText("Hello world")},
		{"NUL bytes", func() []byte {
			return []byte("From: a@example.com\r\nSubject: nul\x00here\r\n\r\nte\x00xt\x00\r\n")
		}, func(t *testing.T, m *matcher.Message, err error) {
			if err != nil || m.Subject != "nulhere" || m.Text != "text" {
				t.Fatalf("Parse = %q %q, %v", m.Subject, m.Text, err)
			}
		}},
		{"5000-character lines", func() []byte {
			return []byte("From: a@example.com\r\nSubject: " + long + "\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
				"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + long + "=\r\n" + long + "\r\n" +
				"--b\r\nContent-Type: text/html\r\n\r\n<p>" + long + "</p>\r\n--b--\r\n")
		}, func(t *testing.T, m *matcher.Message, err error) {
			if err != nil {
				t.Fatal(err)
			}
			if m.Text != long+long {
				t.Errorf("Text has %d characters, want %d", len(m.Text), 2*len(long))
			}
			if utf8.RuneCountInString(m.Subject) != maxSubject {
				t.Errorf("Subject has %d characters, want %d", utf8.RuneCountInString(m.Subject), maxSubject)
			}
		}},
		{"2 MB header field", func() []byte {
			return []byte("From: a@example.com\r\nX-Big: " + strings.Repeat("x", 2<<20) + "\r\n\r\nbody\r\n")
		}, wantLimit},
		{"2 MB of tiny header fields", func() []byte {
			return []byte("From: a@example.com\r\n" + strings.Repeat("X:\r\n", 2<<20/4) + "\r\nbody\r\n")
		}, wantLimit},
		{"2 MB part header", func() []byte {
			return []byte("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
				strings.Repeat("X-Y: z\r\n", 2<<20/8) + "\r\nbody\r\n--b--\r\n")
		}, wantLimit},
		{"200-level nesting", func() []byte { return nested(200) }, wantLimit},
		{"50-level nesting", func() []byte { return nested(50) }, wantText("bottom")},
		{"200 nested messages", func() []byte { return nestedMessages(200) }, wantLimit},
		{"50,000 parts", func() []byte { return manyParts(50_000) }, wantLimit},
		{"999 parts", func() []byte { return manyParts(999) }, func(t *testing.T, m *matcher.Message, err error) {
			if err != nil || strings.Count(m.Text, "p") != 999 {
				t.Fatalf("Parse = %v, %d parts of text", err, strings.Count(m.Text, "p"))
			}
		}},
		{"text over MaxText is cut on a character", func() []byte {
			return []byte("From: a@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + strings.Repeat("אב", store.MaxDetailsLen))
		}, func(t *testing.T, m *matcher.Message, err error) {
			if err != nil || !utf8.ValidString(m.Text) || utf8.RuneCountInString(m.Text) != store.MaxDetailsLen {
				t.Fatalf("Parse: %v; Text of %d characters", err, utf8.RuneCountInString(m.Text))
			}
		}},
		{"unknown charsets are kept raw", func() []byte {
			return []byte("From: =?x-klingon?Q?Worf?= <worf@example.com>\r\nSubject: =?x-klingon?B?cWFwbGE=?=\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nnuqneH\r\n")
		}, func(t *testing.T, m *matcher.Message, err error) {
			if err != nil || m.Subject != "qapla" || m.Text != "nuqneH" || m.From[0].Name != "Worf" {
				t.Fatalf("Parse = %+v, %v", m, err)
			}
		}},
		{"unknown transfer encoding is kept raw", func() []byte {
			return []byte("From: a@example.com\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nraw\r\n")
		}, wantText("raw")},
		{"truncated multipart keeps its parts", func() []byte {
			return []byte("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nfirst\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\n\r\n%PDF")
		}, func(t *testing.T, m *matcher.Message, err error) {
			if err != nil || m.Text != "first" || len(m.Attachments) != 1 || m.Attachments[0].Name != "a.pdf" {
				t.Fatalf("Parse = %+v, %v", m, err)
			}
		}},
		{"multipart without boundary", func() []byte {
			return []byte("From: a@example.com\r\nContent-Type: multipart/mixed\r\n\r\nwhat\r\n")
		}, wantText("")},
		{"broken header line is skipped", func() []byte {
			return []byte("From: a@example.com\r\nSubject: broken\r\nfolding here\r\nTo: b@example.com\r\n\r\nbody\r\n")
		}, func(t *testing.T, m *matcher.Message, err error) {
			if err != nil || m.Subject != "broken" || len(m.To) != 1 || m.Text != "body" {
				t.Fatalf("Parse = %+v, %v", m, err)
			}
		}},
		{"bad Content-Type parameters", func() []byte {
			return []byte("From: a@example.com\r\nContent-Type: text/html; charset=\"windows-1252\r\n\r\n<p>caf\xe9</p>\r\n")
		}, wantText("café")},
		{"invalid Content-Type means text/plain", func() []byte {
			return []byte("From: a@example.com\r\nContent-Type: garbage\r\n\r\ntext\r\n")
		}, wantText("text")},
		{"date outside the store's range", func() []byte {
			return []byte("From: a@example.com\r\nDate: Mon, 1 Jan 1800 00:00:00 +0000\r\n\r\nx\r\n")
		}, func(t *testing.T, m *matcher.Message, err error) {
			if err != nil || !m.Date.IsZero() {
				t.Fatalf("Parse: Date = %v, %v", m.Date, err)
			}
		}},
		{"invalid UTF-8 and controls", func() []byte {
			return []byte("From: a@example.com\r\nSubject: a\xffb\x1bc\r\n\r\nx\xc3\x28y\x07z\r\n")
		}, func(t *testing.T, m *matcher.Message, err error) {
			if err != nil || m.Subject != "a\uFFFDbc" || m.Text != "x\uFFFD(yz" {
				t.Fatalf("Parse = %q %q, %v", m.Subject, m.Text, err)
			}
		}},
		{"empty input", func() []byte { return nil }, func(t *testing.T, m *matcher.Message, err error) {
			if err == nil {
				t.Fatalf("Parse(empty) = %+v, want an error", m)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := Parse(tt.raw(), DefaultLimits())
			tt.check(t, m, err)
			if err == nil {
				checkInvariants(t, m, DefaultLimits())
			}
		})
	}
}

func wantText(want string) func(t *testing.T, m *matcher.Message, err error) {
	return func(t *testing.T, m *matcher.Message, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if m.Text != want {
			t.Fatalf("Text = %q, want %q", m.Text, want)
		}
	}
}

func wantLimit(t *testing.T, m *matcher.Message, err error) {
	t.Helper()
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("Parse = %v, %v; want ErrLimit", m != nil, err)
	}
}

// checkInvariants holds for every message Parse returns: what the store
// and the matcher rely on.
func checkInvariants(t *testing.T, m *matcher.Message, lim Limits) {
	t.Helper()
	for depth := 0; m != nil; m, depth = m.Forwarded, depth+1 {
		if !utf8.ValidString(m.Text) || utf8.RuneCountInString(m.Text) > lim.MaxText {
			t.Fatalf("Text (depth %d) invalid or %d characters, over %d", depth, utf8.RuneCountInString(m.Text), lim.MaxText)
		}
		for _, s := range []string{m.Text, m.Subject, m.MessageID, m.ListID} {
			if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r == 0 || r < ' ' && r != '\n' && r != '\t' }) {
				t.Fatalf("string %q has invalid UTF-8 or a control character", s)
			}
		}
		for _, as := range [][]matcher.Address{m.From, m.To, m.Cc, m.ReplyTo} {
			for _, a := range as {
				if a.Email != strings.ToLower(a.Email) || !strings.Contains(a.Email, "@") || !utf8.ValidString(a.Name) {
					t.Fatalf("bad address %+v", a)
				}
			}
		}
	}
}

func TestAddresses(t *testing.T) {
	t.Parallel()
	p := &parser{lim: DefaultLimits()}
	p.addr = newAddressParser()
	tests := []struct {
		in   string
		want []matcher.Address
	}{
		{"Yossi@Acme.Example", testAddrs(testAddr("", "yossi@acme.example"))},
		{`"Cohen, Yossi" <yossi@acme.example>, Rina <RINA@acme.example>`, testAddrs(testAddr("Cohen, Yossi", "yossi@acme.example"), testAddr("Rina", "rina@acme.example"))},
		{"=?UTF-8?B?16nXqNeU?= <s@x.example>", testAddrs(testAddr("שרה", "s@x.example"))},
		{"=?ISO-8859-1?Q?Andr=E9?= <a@x.example>", testAddrs(testAddr("André", "a@x.example"))},
		{"undisclosed-recipients:;", nil},
		{"Team: a@x.example, b@x.example;, c@x.example", testAddrs(testAddr("", "a@x.example"), testAddr("", "b@x.example"), testAddr("", "c@x.example"))},
		{"a@x.example, bad@@, <>, b@x.example", testAddrs(testAddr("", "a@x.example"), testAddr("", "b@x.example"))},
		{"Sarah Levi; Dana <dana@x.example>", testAddrs(testAddr("Dana", "dana@x.example"))},
		{"Levi, Dana <dana@x.example>", testAddrs(testAddr("Dana", "dana@x.example"))},
		{"Ren\xe9e <renee@x.example>", testAddrs(testAddr("Ren\uFFFDe", "renee@x.example"))},
		{`"Unclosed <u@x.example>, v@x.example`, testAddrs(testAddr("Unclosed", "u@x.example"), testAddr("", "v@x.example"))},
		{"John Q. Public <jqp@x.example>", testAddrs(testAddr("John Q. Public", "jqp@x.example"))},
		{"someone <mailto:someone@x.example>", testAddrs(testAddr("someone", "someone@x.example"))},
		{"", nil},
	}
	for _, tt := range tests {
		if got := p.addresses([]string{tt.in}); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("addresses(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestMsgIDs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"<ABC.123@Mail.Example.COM>", []string{"ABC.123@mail.example.com"}},
		{"  < spaced@X.org >  ", []string{"spaced@x.org"}},
		{"bare@Host.Example", []string{"bare@host.example"}},
		{"<a@B.c> (comment) <d@E.f>", []string{"a@b.c", "d@e.f"}},
		{"<not an id>", nil},
		{"<x@\"quoted\"@Host>", []string{`x@"quoted"@host`}},
		{"", nil},
		{"<" + strings.Repeat("a", 1000) + "@x>", nil},
	}
	for _, tt := range tests {
		if got := msgIDs(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("msgIDs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMediaTypeFilenames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, wantType, wantName string
	}{
		{`attachment; filename="report.pdf"`, "attachment", "report.pdf"},
		{`attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`, "attachment", "résumé.pdf"},
		{`attachment; filename*=iso-8859-1'fr'r%E9sum%E9.pdf`, "attachment", "résumé.pdf"},
		{`attachment; filename*0*=UTF-8''%E2%84%96; filename*1*=%2042; filename*2=".pdf"`, "attachment", "№ 42.pdf"},
		{`attachment; filename*0="long file "; filename*1="name.pdf"`, "attachment", "long file name.pdf"},
		{`attachment; filename="fallback.pdf"; filename*=windows-1255''%E3%E5%E7.pdf`, "attachment", "דוח.pdf"},
		{`attachment; filename="a.pdf"; filename="b.pdf"`, "attachment", "b.pdf"},
		{`Attachment; filename="unterminated.pdf`, "attachment", "unterminated.pdf"},
		{`inline`, "inline", ""},
	}
	for _, tt := range tests {
		mt, params := mediaType(tt.in, "")
		if mt != tt.wantType || params["filename"] != tt.wantName {
			t.Errorf("mediaType(%q) = %q, %q; want %q, %q", tt.in, mt, params["filename"], tt.wantType, tt.wantName)
		}
	}
	for in, want := range map[string]string{
		"=?UTF-8?B?16TXqNeV15nXp9eYLnBkZg==?=": "פרויקט.pdf", // RFC 2047 in a quoted parameter (Outlook)
		`C:\Users\dana\Desktop\plan.docx`:      "plan.docx",
		"../../etc/passwd":                     "passwd",
		"two\r\n lines.txt":                    "two lines.txt",
	} {
		if got := cleanFilename(decodeWords(in)); got != want {
			t.Errorf("cleanFilename(decodeWords(%q)) = %q, want %q", in, got, want)
		}
	}
}

func TestInlineForward(t *testing.T) {
	t.Parallel()
	p := &parser{lim: DefaultLimits()}
	p.addr = newAddressParser()
	yossi := testAddrs(testAddr("Yossi Cohen", "yossi@acme.example"))
	tests := []struct {
		name, subject, text string
		wantFrom            []matcher.Address // nil: no forward
		wantSubject         string
	}{
		{"thunderbird", "Fwd: Plan", "note\n\n-------- Forwarded Message --------\nSubject: \tPlan\nDate: \tMon, 3 Mar 2025 10:00:00 +0200\nFrom: \tYossi Cohen <yossi@acme.example>\nTo: \tsarah@ourorg.example\n\nbody", yossi, "Plan"},
		{"german outlook", "WG: Angebot", "-----Ursprüngliche Nachricht-----\nVon: Yossi Cohen [mailto:yossi@acme.example]\nGesendet: Montag, 3. März 2025 10:00\nAn: Sarah\nBetreff: Angebot\n\nHallo", yossi, "Angebot"},
		{"outlook without marker", "FW: Plan", "see below\n\n________________________________\nFrom: Yossi Cohen <yossi@acme.example>\nSent: Monday, March 3, 2025 10:00 AM\nSubject: Plan\n\nbody", yossi, "Plan"},
		{"bare block under a Fwd subject", "Fwd: Plan", "see below\n\nFrom: Yossi Cohen <yossi@acme.example>\nDate: 3 Mar 2025\nSubject: Plan\n\nbody", yossi, "Plan"},
		{"marker without a Fwd subject", "Plan", "---------- Forwarded message ---------\nFrom: Yossi Cohen <yossi@acme.example>\nSubject: Plan\n", yossi, "Plan"},
		{"Outlook reply is not a forward", "RE: Plan", "ok\n\n-----Original Message-----\nFrom: Yossi Cohen [mailto:yossi@acme.example]\nSubject: Plan\n\nbody", nil, ""},
		{"From line in a plain message", "Plan", "From: Yossi Cohen <yossi@acme.example>\nSubject: Plan\n", nil, ""},
		{"marker without a header block", "Fwd: Plan", "---------- Forwarded message ---------\nnothing here", nil, ""},
		{"block without an address", "Fwd: Plan", "---------- Forwarded message ---------\nFrom: Yossi Cohen\nSubject: Plan\n", nil, ""},
	}
	for _, tt := range tests {
		m := p.inlineForward(tt.subject, tt.text)
		switch {
		case tt.wantFrom == nil && m != nil:
			t.Errorf("%s: inlineForward = %+v, want none", tt.name, m)
		case tt.wantFrom != nil && m == nil:
			t.Errorf("%s: inlineForward = nil, want From %v", tt.name, tt.wantFrom)
		case m != nil && (!reflect.DeepEqual(m.From, tt.wantFrom) || m.Subject != tt.wantSubject):
			t.Errorf("%s: inlineForward = %+v, want From %v, Subject %q", tt.name, m, tt.wantFrom, tt.wantSubject)
		}
	}
}

func TestParseLooseDate(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"Mon, Mar 3, 2025 at 9:02\u202fAM":     "2025-03-03T09:02:00Z",
		"Monday, March 3, 2025 8:47 PM":        "2025-03-03T20:47:00Z",
		"4 March 2025 at 14:20:05 GMT+2":       "2025-03-04T12:20:05Z",
		"March 4, 2025 at 2:20:05 PM GMT-5:30": "2025-03-04T19:50:05Z",
		"March 4, 2025 at 2:20:05 PM PST":      "2025-03-04T14:20:05Z", // zone name dropped
		"Tue, 4 Mar 2025 14:20:05 +0200":       "2025-03-04T12:20:05Z",
	}
	for in, want := range tests {
		if got := parseLooseDate(in); !got.Equal(mustTime(t, want)) {
			t.Errorf("parseLooseDate(%q) = %v, want %s", in, got, want)
		}
	}
	if got := parseLooseDate("next Tuesday"); !got.IsZero() {
		t.Errorf("parseLooseDate(next Tuesday) = %v, want zero", got)
	}
}

func TestTransferDecoders(t *testing.T) {
	t.Parallel()
	qp := map[string]string{
		"caf=C3=A9":                       "café",
		"soft=\r\nbreak":                  "softbreak",
		"soft=  \nbreak with space":       "softbreak with space",
		"a=b&c=d":                         "a=b&c=d", // stray "=" kept
		"lower=c3=a9":                     "loweré",
		"end=":                            "end",
		strings.Repeat("x", 9000) + "=41": strings.Repeat("x", 9000) + "A",
		"nul\x00byte":                     "nul\x00byte",
	}
	for in, want := range qp {
		got, err := io.ReadAll(cteReader("Quoted-Printable", strings.NewReader(in)))
		if err != nil || string(got) != want {
			t.Errorf("qp(%.20q) = %.20q, %v; want %.20q", in, got, err, want)
		}
	}
	b64 := map[string]string{
		"SGVsbG8=":      "Hello",
		"SGVs\r\n bG8=": "Hello",
		"SGVsbG8":       "Hello",
		"SGVs#bG8":      "Hello",
		"SGk=SGk=":      "HiHi", // concatenated chunks
		"":              "",
		"Q":             "",
	}
	for in, want := range b64 {
		got, err := io.ReadAll(cteReader("base64", strings.NewReader(in)))
		if err != nil || string(got) != want {
			t.Errorf("base64(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	// Long streams decode like the standard library's decoder.
	src := make([]byte, 100_000)
	for i := range src {
		src[i] = byte(i * 7)
	}
	enc := base64.StdEncoding.EncodeToString(src)
	got, _ := io.ReadAll(cteReader("base64", iotestOneByte(strings.NewReader(enc))))
	if !bytes.Equal(got, src) {
		t.Errorf("base64 of 100 kB read a byte at a time differs")
	}
}

// TestDecodedSize: an attachment's size, counted without decoding, is what
// decoding it yields, for clean and broken base64 alike.
func TestDecodedSize(t *testing.T) {
	t.Parallel()
	alphabet := "ABCxyz019+/=\r\n #-\x00\xff"
	rng := rand.New(rand.NewPCG(3, 4))
	ins := []string{"", "Q", "SGVsbG8=", "SGk=SGk=", "SGVs#bG8", "====", "QQ=QQ"}
	for range 2000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		ins = append(ins, string(b))
	}
	big := make([]byte, 50_000)
	for i := range big {
		big[i] = byte(i * 13)
	}
	ins = append(ins, base64.StdEncoding.EncodeToString(big))
	for _, enc := range []string{"base64", " BASE64 ", "quoted-printable", "7bit"} {
		for _, in := range ins {
			want, _ := io.ReadAll(cteReader(enc, strings.NewReader(in)))
			if got := decodedSize(enc, iotestOneByte(strings.NewReader(in))); got != int64(len(want)) {
				t.Fatalf("decodedSize(%s, %.40q) = %d, decoding gives %d bytes", enc, in, got, len(want))
			}
		}
	}
}

// iotestOneByte reads one byte at a time, to test buffer boundaries.
func iotestOneByte(r io.Reader) io.Reader { return oneByteReader{r} }

type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

func TestDedupeKey(t *testing.T) {
	t.Parallel()
	key := func(raw string) string {
		m, err := Parse([]byte(raw), DefaultLimits())
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		return DedupeKey([]byte(raw), m)
	}
	withID := "Message-ID: <Abc@Mail.Example>\r\nFrom: a@example.com\r\nSubject: s\r\n\r\nbody\r\n"
	relayed := "Received: from relay by mx; Mon, 3 Mar 2025 10:00:00 +0000\r\nReceived: from a by relay\r\n" + withID
	if k1, k2 := key(withID), key(relayed); k1 != "mid:Abc@mail.example" || k1 != k2 {
		t.Errorf("keys with Message-ID = %q, %q; want both mid:Abc@mail.example", k1, k2)
	}
	// Without a Message-ID: header lines other than From, Date and Subject,
	// line endings, trailing newlines and folding do not matter.
	plain := "From: a@example.com\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\nSubject: hello\r\n\r\nline 1\r\nline 2\r\n"
	resent := "Received: from x by y\nFrom: a@example.com\nDate: Mon, 3 Mar 2025 10:00:00 +0000\nSubject:\n hello\nX-Seen: 2\n\nline 1\nline 2\n\n"
	k1, k2 := key(plain), key(resent)
	if !strings.HasPrefix(k1, "hash:") || len(k1) != len("hash:")+64 || k1 != k2 {
		t.Errorf("keys of a re-sent message = %q, %q; want the same hash", k1, k2)
	}
	if k3 := key(strings.Replace(plain, "line 2", "line 3", 1)); k3 == k1 {
		t.Errorf("different bodies share key %q", k3)
	}
	if k4 := key(strings.Replace(plain, "hello", "hullo", 1)); k4 == k1 {
		t.Errorf("different subjects share key %q", k4)
	}
	if k := key(plain); k != k1 {
		t.Errorf("key not stable: %q then %q", k1, k)
	}
	// Without a parsed message the raw Message-ID still counts.
	if k := DedupeKey([]byte(withID), nil); k != "mid:Abc@mail.example" {
		t.Errorf("DedupeKey(raw, nil) = %q", k)
	}
	if k := DedupeKey(readFixture(t, "garbage.eml"), nil); !strings.HasPrefix(k, "hash:") {
		t.Errorf("DedupeKey(garbage, nil) = %q", k)
	}
}

// repeatReader yields n bytes of a fixed pattern without holding them.
type repeatReader struct{ n int64 }

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n)]
	for i := range p {
		p[i] = byte(r.n - int64(i))
	}
	r.n -= int64(len(p))
	return len(p), nil
}

// lineWriter breaks what it writes into 76-character CRLF lines.
type lineWriter struct {
	w   *bytes.Buffer
	col int
}

func (l *lineWriter) Write(p []byte) (int, error) {
	for _, c := range p {
		if l.col == 76 {
			l.w.WriteString("\r\n")
			l.col = 0
		}
		l.w.WriteByte(c)
		l.col++
	}
	return len(p), nil
}

func TestParseMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 70 MB message")
	}
	const size = 50 << 20
	var buf bytes.Buffer
	encLen := (size + 2) / 3 * 4
	buf.Grow(encLen + 2*(encLen/76+1) + 4096)
	buf.WriteString("From: Sarah <sarah@ourorg.example>\r\nTo: yossi@acme.example\r\nSubject: big\r\n" +
		"Content-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\nContent-Type: text/plain\r\n\r\nThe film.\r\n" +
		"--big\r\nContent-Type: video/mp4\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"film.mp4\"\r\n\r\n")
	enc := base64.NewEncoder(base64.StdEncoding, &lineWriter{w: &buf})
	io.Copy(enc, &repeatReader{n: size})
	enc.Close()
	buf.WriteString("\r\n--big--\r\n")
	raw := buf.Bytes()

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	m, err := Parse(raw, DefaultLimits())
	elapsed := time.Since(start)
	close(done)
	<-sampled
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].Size != size || m.Text != "The film." {
		t.Fatalf("Parse = %+v", m)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	peakGrowth := int64(peak.Load()) - int64(before.HeapAlloc)
	t.Logf("%.1f MB message parsed in %v: %.2f MB allocated in all, peak heap %.2f MB over the raw bytes",
		float64(len(raw))/1e6, elapsed, float64(allocated)/1e6, float64(peakGrowth)/1e6)
	// Everything allocated bounds the peak from above.
	if allocated > 64<<20 || peakGrowth > 64<<20 {
		t.Errorf("allocated %d bytes, peak growth %d; want under 64 MiB", allocated, peakGrowth)
	}
	runtime.KeepAlive(raw)
}
