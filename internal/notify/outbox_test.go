package notify

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var epoch = time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.UTC)

const sender = "wharf <noreply@index.example.org>"

func fixed(t time.Time) func() time.Time { return func() time.Time { return t } }

func newOutbox(t *testing.T, now func() time.Time) (*Outbox, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "outbox")
	o, err := NewOutbox(dir, sender, now)
	if err != nil {
		t.Fatal(err)
	}
	return o, dir
}

// parsed is a message as a mail reader sees it.
type parsed struct {
	Header map[string]string
	Text   string
	HTML   string
}

// parse reads a stored message back with net/mail and mime/multipart, and checks that it is plain 7-bit text with
// CRLF line ends and no line over RFC 5322's limit, so that any mail reader and any relay takes it.
func parse(t *testing.T, raw []byte) parsed {
	t.Helper()
	if !bytes.HasSuffix(raw, []byte("\r\n")) {
		t.Errorf("the message does not end with CRLF")
	}
	for i, line := range bytes.SplitAfter(raw, []byte("\n")) {
		if len(line) > 0 && !bytes.HasSuffix(line, []byte("\r\n")) {
			t.Errorf("line %d does not end with CRLF: %q", i, line)
		}
		if len(line) > 1000 {
			t.Errorf("line %d is %d bytes long", i, len(line))
		}
		for _, c := range line {
			if c >= 0x80 {
				t.Fatalf("line %d is not 7-bit: %q", i, line)
			}
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("net/mail cannot read the message: %v\n%s", err, raw)
	}
	p := parsed{Header: map[string]string{}}
	dec := new(mime.WordDecoder)
	for k, v := range msg.Header {
		if len(v) != 1 {
			t.Errorf("header %s appears %d times", k, len(v))
		}
		d, err := dec.DecodeHeader(v[0])
		if err != nil {
			t.Errorf("header %s: %v", k, err)
		}
		p.Header[k] = d
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	if mt != "multipart/alternative" {
		p.Text = readQP(t, msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
		return p
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable itself
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		b, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("part: %v", err)
		}
		switch ct := part.Header.Get("Content-Type"); ct {
		case "text/plain; charset=utf-8":
			p.Text = lf(string(b))
		case "text/html; charset=utf-8":
			p.HTML = lf(string(b))
		default:
			t.Errorf("unexpected part %q", ct)
		}
	}
	return p
}

func readQP(t *testing.T, cte string, r io.Reader) string {
	t.Helper()
	if cte != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding = %q, want quoted-printable", cte)
	}
	// A multipart part with a quoted-printable header is decoded by mime/multipart: wrap the body as one.
	body, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	var mp bytes.Buffer
	fmt.Fprintf(&mp, "--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n%s\r\n--b--\r\n", body)
	part, err := multipart.NewReader(&mp, "b").NextPart()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(part)
	if err != nil {
		t.Fatalf("quoted-printable: %v", err)
	}
	return lf(string(b))
}

func lf(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

func TestOutboxWritesReadableMessages(t *testing.T) {
	longLine := strings.Repeat("a long line of text that goes on ", 20)
	for _, tc := range []struct {
		name       string
		msg        Message
		wantHeader map[string]string
		wantText   string
		wantHTML   string
	}{
		{
			name: "plain text",
			msg: Message{To: "alice@example.com", Subject: "Verify your email address", Kind: "verify-email",
				Text: "Hello,\n\nopen https://index.example.org/verify?t=abc\n"},
			wantHeader: map[string]string{
				"To": "<alice@example.com>", "Subject": "Verify your email address", "X-Wharf-Kind": "verify-email",
				"Content-Type": "text/plain; charset=utf-8",
			},
			wantText: "Hello,\n\nopen https://index.example.org/verify?t=abc\n",
		},
		{
			name: "with an HTML alternative",
			msg: Message{To: "Alice <alice@example.com>", Subject: "Hello", Kind: "new-login",
				Text: "plain body\n", HTML: "<p>html body</p>\n"},
			wantHeader: map[string]string{"To": `"Alice" <alice@example.com>`, "Subject": "Hello", "X-Wharf-Kind": "new-login"},
			wantText:   "plain body\n",
			wantHTML:   "<p>html body</p>\n",
		},
		{
			name: "non-ASCII subject, name and body",
			msg: Message{To: "Zoë Åberg <zoe@example.com>", Subject: "Bienvenue sur l’index — ÿ", Kind: "invitation",
				Text: "Grüße, 世界 = ok\n"},
			wantHeader: map[string]string{"To": "Zoë Åberg <zoe@example.com>", "Subject": "Bienvenue sur l’index — ÿ"},
			wantText:   "Grüße, 世界 = ok\n",
		},
		{
			name: "long subject and long lines are folded and decoded back",
			msg: Message{To: "bob@example.com", Subject: strings.TrimSpace(strings.Repeat("word ", 60)),
				Text: longLine + "\n"},
			wantHeader: map[string]string{"Subject": strings.TrimSpace(strings.Repeat("word ", 60))},
			wantText:   longLine + "\n",
		},
		{
			name:       "body lines that mean something to mail software",
			msg:        Message{To: "bob@example.com", Subject: "s", Text: "From me\n.\n..\n--boundary\nno final newline"},
			wantHeader: map[string]string{"Subject": "s"},
			wantText:   "From me\n.\n..\n--boundary\nno final newline\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, _ := newOutbox(t, fixed(epoch))
			if err := o.Send(t.Context(), tc.msg); err != nil {
				t.Fatal(err)
			}
			list, err := o.List()
			if err != nil {
				t.Fatal(err)
			}
			to, _ := mail.ParseAddress(tc.msg.To)
			wantList := []Stored{{Time: epoch.Truncate(time.Second), To: to.Address, Subject: tc.msg.Subject, Kind: tc.msg.Kind}}
			if diff := cmp.Diff(wantList, list, cmpopts.IgnoreFields(Stored{}, "Name")); diff != "" {
				t.Errorf("List (-want +got):\n%s", diff)
			}
			raw, err := o.Read(list[0].Name)
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, raw)
			want := map[string]string{
				"Date": "Sun, 01 Mar 2026 12:30:45 +0000", "From": `"wharf" <noreply@index.example.org>`,
				"Mime-Version": "1.0", "Auto-Submitted": "auto-generated",
			}
			for k, v := range tc.wantHeader {
				want[k] = v
			}
			got := map[string]string{}
			for k := range want {
				got[k] = p.Header[k]
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			if id := p.Header["Message-Id"]; !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@index.example.org>") {
				t.Errorf("Message-ID = %q", id)
			}
			if diff := cmp.Diff(parsed{Text: tc.wantText, HTML: tc.wantHTML}, parsed{Text: p.Text, HTML: p.HTML}); diff != "" {
				t.Errorf("bodies (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMessageIDsDiffer(t *testing.T) {
	o, _ := newOutbox(t, fixed(epoch))
	m := Message{To: "a@example.com", Subject: "s", Text: "t"}
	for range 2 {
		if err := o.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	list, err := o.List()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, s := range list {
		raw, err := o.Read(s.Name)
		if err != nil {
			t.Fatal(err)
		}
		ids[parse(t, raw).Header["Message-Id"]] = true
	}
	if len(list) != 2 || len(ids) != 2 {
		t.Errorf("two sends gave %d files with %d distinct Message-IDs, want 2 and 2", len(list), len(ids))
	}
}

func TestHeaderInjectionRefused(t *testing.T) {
	ok := Message{To: "alice@example.com", Subject: "Subject", Text: "body", Kind: "verify-email"}
	with := func(f func(*Message)) Message { m := ok; f(&m); return m }
	for _, tc := range []struct {
		name string
		msg  Message
		want string
	}{
		{"CRLF in To", with(func(m *Message) { m.To = "alice@example.com\r\nBcc: eve@example.com" }), "To"},
		{"LF in To", with(func(m *Message) { m.To = "alice@example.com\nBcc: eve@example.com" }), "To"},
		{"CR in To", with(func(m *Message) { m.To = "alice@example.com\rBcc: eve@example.com" }), "To"},
		{"CRLF in Subject", with(func(m *Message) { m.Subject = "Hi\r\nBcc: eve@example.com" }), "Subject"},
		{"LF in Subject", with(func(m *Message) { m.Subject = "Hi\nBcc: eve@example.com" }), "Subject"},
		{"CR in Subject", with(func(m *Message) { m.Subject = "Hi\rBcc: eve@example.com" }), "Subject"},
		{"NUL in Subject", with(func(m *Message) { m.Subject = "Hi\x00" }), "Subject"},
		{"next-line control in Subject", with(func(m *Message) { m.Subject = "Hi\u0085Bcc: eve@example.com" }), "Subject"},
		{"line separator in Subject", with(func(m *Message) { m.Subject = "Hi\u2028Bcc: eve@example.com" }), "Subject"},
		{"two recipients", with(func(m *Message) { m.To = "alice@example.com, eve@example.com" }), "To"},
		{"not an address", with(func(m *Message) { m.To = "alice" }), "To"},
		{"empty To", with(func(m *Message) { m.To = "" }), "To"},
		{"empty Subject", with(func(m *Message) { m.Subject = " " }), "Subject"},
		{"Subject too long", with(func(m *Message) { m.Subject = strings.Repeat("x", 401) }), "Subject"},
		{"empty Text", with(func(m *Message) { m.Text = "" }), "Text"},
		{"Kind with a line break", with(func(m *Message) { m.Kind = "verify\r\nBcc: x" }), "Kind"},
		{"Kind with a space", with(func(m *Message) { m.Kind = "verify email" }), "Kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, dir := newOutbox(t, fixed(epoch))
			err := o.Send(t.Context(), tc.msg)
			if !errors.Is(err, ErrInvalidMessage) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Send: err = %v, want ErrInvalidMessage naming %s", err, tc.want)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 0 {
				t.Errorf("a refused message left %d files", len(entries))
			}
		})
	}
}

func TestOutboxNamesSortByTime(t *testing.T) {
	now := epoch
	o, _ := newOutbox(t, func() time.Time { return now })
	// Out of order by kind name, in order by time; a nanosecond apart, across a second and across a year.
	for _, step := range []struct {
		kind string
		wait time.Duration
	}{{"zzz", 0}, {"mmm", time.Nanosecond}, {"aaa", time.Second}, {"bbb", 300 * 24 * time.Hour}} {
		now = now.Add(step.wait)
		if err := o.Send(t.Context(), Message{To: "a@example.com", Subject: step.kind, Text: "t", Kind: step.kind}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := o.List()
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, s := range list {
		kinds = append(kinds, s.Kind)
	}
	if diff := cmp.Diff([]string{"zzz", "mmm", "aaa", "bbb"}, kinds); diff != "" {
		t.Errorf("List order (-want +got):\n%s", diff)
	}
	entries, err := os.ReadDir(o.dir) // sorted by name, as ls shows them
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff(names, slices.Sorted(slices.Values(names))); diff != "" || !strings.Contains(names[0], "-zzz-") {
		t.Errorf("file names do not sort by time: %v", names)
	}
}

// TestOutboxConcurrentSends sends from many goroutines at one instant while another reads the outbox the whole
// time: every message must land in its own file, and the reader must never see a partial one.
func TestOutboxConcurrentSends(t *testing.T) {
	o, dir := newOutbox(t, fixed(epoch))
	const senders = 50
	body := strings.Repeat("a body long enough to take more than one write ", 2000)
	var done atomic.Bool
	var readerErr error
	var seenMax int
	var wg sync.WaitGroup
	wg.Go(func() {
		for !done.Load() {
			list, err := o.List()
			if err != nil {
				readerErr = err
				return
			}
			seenMax = max(seenMax, len(list))
			for _, s := range list {
				raw, err := o.Read(s.Name)
				if err != nil {
					readerErr = err
					return
				}
				msg, err := mail.ReadMessage(bytes.NewReader(raw))
				if err != nil {
					readerErr = err
					return
				}
				if b, _ := io.ReadAll(msg.Body); len(b) < len(body) {
					readerErr = fmt.Errorf("%s: saw a body of %d bytes, want at least %d", s.Name, len(b), len(body))
					return
				}
			}
		}
	})
	var sendWG sync.WaitGroup
	errs := make(chan error, senders)
	for i := range senders {
		sendWG.Go(func() {
			errs <- o.Send(t.Context(), Message{To: fmt.Sprintf("user%d@example.com", i), Subject: "s", Text: body})
		})
	}
	sendWG.Wait()
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Send: %v", err)
		}
	}
	if readerErr != nil {
		t.Errorf("concurrent reader: %v", readerErr)
	}
	list, err := o.List()
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for i := range senders {
		want = append(want, fmt.Sprintf("user%d@example.com", i))
	}
	for _, s := range list {
		got = append(got, s.To)
	}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("recipients in the outbox (-want +got):\n%s", diff)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != senders {
		t.Errorf("%d files in the outbox, want %d (no temporary files left)", len(entries), senders)
	}
	t.Logf("the reader saw up to %d messages while they were being written", seenMax)
}

func TestOutboxFailedWriteLeavesNothing(t *testing.T) {
	o, dir := newOutbox(t, fixed(epoch))
	errDiskFull := errors.New("no space left on device")
	o.sync = func(*os.File) error { return errDiskFull }
	err := o.Send(t.Context(), Message{To: "a@example.com", Subject: "s", Text: "t"})
	if !errors.Is(err, errDiskFull) {
		t.Errorf("Send: err = %v, want the disk's error", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("a failed write left %v", entries)
	}
}

// TestOutboxIgnoresCrashLeftovers plays a crash in the middle of a write: what it leaves is a temporary file,
// which is neither listed nor readable as a message.
func TestOutboxIgnoresCrashLeftovers(t *testing.T) {
	o, dir := newOutbox(t, fixed(epoch))
	if err := o.Send(t.Context(), Message{To: "a@example.com", Subject: "complete", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	partial := tempPrefix + "123456"
	for name, content := range map[string]string{
		partial:      "Date: Sun, 01 Mar 2026 12:30:45 +0000\r\nFrom: wharf <noreply@index.example.org>\r\nSubj",
		"README.txt": "not a message",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	list, err := o.List()
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, s := range list {
		subjects = append(subjects, s.Subject)
	}
	if diff := cmp.Diff([]string{"complete"}, subjects); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	for _, name := range []string{partial, "README.txt", "../outbox/" + list[0].Name, "/etc/passwd.eml", `..\x.eml`, ".hidden.eml"} {
		if _, err := o.Read(name); err == nil {
			t.Errorf("Read(%q) succeeded", name)
		}
	}
}

func TestOutboxPermissions(t *testing.T) {
	o, dir := newOutbox(t, fixed(epoch))
	if err := o.Send(t.Context(), Message{To: "a@example.com", Subject: "s", Text: "reset link"}); err != nil {
		t.Fatal(err)
	}
	list, err := o.List()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]os.FileMode{}
	for name, path := range map[string]string{"dir": dir, "file": filepath.Join(dir, list[0].Name)} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		got[name] = st.Mode().Perm()
	}
	if diff := cmp.Diff(map[string]os.FileMode{"dir": 0o700, "file": 0o600}, got); diff != "" {
		t.Errorf("permissions (-want +got):\n%s", diff)
	}
}

func TestNewOutboxRefusesBadSender(t *testing.T) {
	for _, from := range []string{"", "not an address", "wharf <noreply@example.org>\r\nBcc: eve@example.com"} {
		if _, err := NewOutbox(t.TempDir(), from, fixed(epoch)); err == nil {
			t.Errorf("NewOutbox(from %q) succeeded", from)
		}
	}
}
