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
	"unicode/utf8"

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
	Header           map[string]string
	Text             string
	HTML             string
	TextCTE, HTMLCTE string
}

// parse reads a stored message back with net/mail and mime/multipart, and checks that it has CRLF line ends, no
// line over RFC 5322's limit, and only the bytes its Content-Transfer-Encoding allows, so that any mail reader and
// any relay takes it. Bodies come back decoded; ctes are the encodings of the text and HTML bodies.
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
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("net/mail cannot read the message: %v\n%s", err, raw)
	}
	headerEnd := bytes.Index(raw, []byte("\r\n\r\n"))
	if i := bytes.IndexFunc(raw[:headerEnd], func(r rune) bool { return r >= 0x80 }); i >= 0 {
		t.Errorf("the header is not 7-bit at %d", i)
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
		p.TextCTE = msg.Header.Get("Content-Transfer-Encoding")
		p.Text = decodeBody(t, p.TextCTE, msg.Body)
		return p
	}
	widest := cte7bit
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart() // leaves the body encoded, to check it as it travels
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		cte := part.Header.Get("Content-Transfer-Encoding")
		if cte == cte8bit {
			widest = cte8bit
		}
		switch ct := part.Header.Get("Content-Type"); ct {
		case "text/plain; charset=utf-8":
			p.Text, p.TextCTE = decodeBody(t, cte, part), cte
		case "text/html; charset=utf-8":
			p.HTML, p.HTMLCTE = decodeBody(t, cte, part), cte
		default:
			t.Errorf("unexpected part %q", ct)
		}
	}
	declared := msg.Header.Get("Content-Transfer-Encoding")
	if declared == "" {
		declared = cte7bit
	}
	if declared != widest {
		t.Errorf("the multipart entity says %s, its widest part is %s", declared, widest)
	}
	return p
}

// decodeBody reads a body in its Content-Transfer-Encoding and checks that it holds only what that allows.
func decodeBody(t *testing.T, cte string, r io.Reader) string {
	t.Helper()
	body, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	switch cte {
	case cte7bit, cteQP:
		if i := bytes.IndexFunc(body, func(r rune) bool { return r >= 0x80 }); i >= 0 {
			t.Errorf("a %s body has a byte over 127 at %d", cte, i)
		}
	case cte8bit:
		if !utf8.Valid(body) {
			t.Errorf("an 8bit body is not UTF-8")
		}
	default:
		t.Fatalf("Content-Transfer-Encoding = %q", cte)
	}
	if bytes.IndexByte(body, 0) >= 0 {
		t.Errorf("a %s body has a NUL", cte)
	}
	if cte != cteQP {
		return lf(string(body))
	}
	// A multipart part with a quoted-printable header is decoded by mime/multipart: wrap the body as one.
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

// longLink is a link as long as the ones wharf mails can get (a token, a next page), far over quoted-printable's
// 76 characters.
var longLink = "https://index.example.org/account/verify-email/?token=" + strings.Repeat("AbC-d_9", 35) + "&next=%2Fmanage%2F"

// TestOutboxKeepsTextAsWritten checks that a person can copy a link out of the .eml file: text goes 7bit or 8bit,
// with the link whole on one line, and quoted-printable only when a line is too long for mail or the text is not
// UTF-8.
func TestOutboxKeepsTextAsWritten(t *testing.T) {
	if len(longLink) < 300 {
		t.Fatalf("the link is %d characters, want at least 300", len(longLink))
	}
	longLine := strings.Repeat("0123456789", 100) // 1000 octets
	for _, tc := range []struct {
		name             string
		msg              Message
		textCTE, htmlCTE string
		raw              []string // what the file holds literally, each on a line of its own
	}{
		{
			name:    "a long link in ASCII text",
			msg:     Message{To: "alice@example.com", Subject: "Verify", Text: "Hello,\n\nopen this link:\n\n" + longLink + "\n\nThanks\n"},
			textCTE: cte7bit,
			raw:     []string{longLink},
		},
		{
			name: "a non-ASCII name",
			msg: Message{To: "Zoë Åberg <zoe@example.com>", Subject: "Bienvenue, Zoë",
				Text: "Hello Zoë Åberg,\r\n\r\n" + longLink + "\r\n"},
			textCTE: cte8bit,
			raw:     []string{"Hello Zoë Åberg,", longLink},
		},
		{
			name:    "a line over 998 octets",
			msg:     Message{To: "bob@example.com", Subject: "s", Text: "short\n" + longLine + "\n"},
			textCTE: cteQP,
		},
		{
			name:    "text that is not UTF-8",
			msg:     Message{To: "bob@example.com", Subject: "s", Text: "caf\xe9 " + longLink + "\n"},
			textCTE: cteQP,
		},
		{
			name: "an HTML alternative",
			msg: Message{To: "zoe@example.com", Subject: "s", Text: "Open\n" + longLink + "\n",
				HTML: `<p>Grüße: <a href="` + longLink + `">verify</a></p>` + "\n"},
			textCTE: cte7bit, htmlCTE: cte8bit,
			raw: []string{longLink, `<p>Grüße: <a href="` + longLink + `">verify</a></p>`},
		},
		{
			name: "an HTML alternative with a long line",
			msg: Message{To: "zoe@example.com", Subject: "s", Text: "Open\n" + longLink + "\n",
				HTML: "<p>" + longLine + "</p>\n"},
			textCTE: cte7bit, htmlCTE: cteQP,
			raw: []string{longLink},
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
			raw, err := o.Read(list[0].Name)
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, raw)
			if diff := cmp.Diff([]string{tc.textCTE, tc.htmlCTE}, []string{p.TextCTE, p.HTMLCTE}); diff != "" {
				t.Errorf("Content-Transfer-Encoding of text and HTML (-want +got):\n%s", diff)
			}
			want := parsed{Text: lf(tc.msg.Text), HTML: tc.msg.HTML}
			if diff := cmp.Diff(want, parsed{Text: p.Text, HTML: p.HTML}); diff != "" {
				t.Errorf("decoded bodies (-want +got):\n%s", diff)
			}
			rawLines := strings.Split(string(raw), "\r\n")
			for _, s := range tc.raw {
				if !slices.Contains(rawLines, s) {
					t.Errorf("no line of the file is %q:\n%s", s, raw)
				}
			}
			to, _ := mail.ParseAddress(tc.msg.To)
			if got, err := mail.ParseAddress(p.Header["To"]); err != nil || *got != *to {
				t.Errorf("To = %q, want %q", p.Header["To"], tc.msg.To)
			}
		})
	}
}

func TestBodyEncoding(t *testing.T) {
	for _, tc := range []struct {
		name     string
		body     string
		eightBit bool
		want     string
	}{
		{"ASCII", "Hello\n", false, cte7bit},
		{"ASCII with CRLF", "Hello\r\nthere\r\n", false, cte7bit},
		{"a line of exactly 998 octets", strings.Repeat("x", 998) + "\n", false, cte7bit},
		{"a line of 999 octets", strings.Repeat("x", 999), false, cteQP},
		{"998 octets of UTF-8", strings.Repeat("é", 499) + "\n", true, cte8bit},
		{"UTF-8 over an 8-bit transport", "Grüße\n", true, cte8bit},
		{"UTF-8 over a 7-bit relay", "Grüße\n", false, cteQP},
		{"not UTF-8", "caf\xe9\n", true, cteQP},
		{"a lone CR", "one\rtwo\n", true, cteQP},
		{"a NUL", "one\x00two\n", true, cteQP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := bodyEncoding(tc.body, tc.eightBit); got != tc.want {
				t.Errorf("bodyEncoding = %s, want %s", got, tc.want)
			}
		})
	}
}
