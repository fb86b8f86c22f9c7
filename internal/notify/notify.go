// Package notify sends wharf's mail: address verification, password resets, invitations and the security
// notifications that tell a user about every change to their account, so that a takeover does not go unnoticed.
// Mail goes through an SMTP server when one is configured (WHARF_SMTP_URL) and otherwise into an outbox folder
// of .eml files that a person can read with any mail reader, or with cat.
package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Message is one mail to one recipient.
type Message struct {
	To      string // one address, "alice@example.com" or "Alice <alice@example.com>"
	Subject string
	Text    string // the plain-text body, always sent
	HTML    string // optional alternative body
	// Kind says which message this is ("verify-email", ...), for tests, logs and the outbox listing; it travels
	// in an X-Wharf-Kind header.
	Kind string
}

// Mailer sends messages.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// ErrInvalidMessage wraps every refusal of a message before it is sent: a control character where it could start
// a new header line, an address that does not parse, an empty subject or body.
var ErrInvalidMessage = errors.New("notify: invalid message")

// Limits that keep every header line under the 998 characters RFC 5322 allows.
const (
	maxSubject = 400
	maxKind    = 64
)

// parseFrom validates the sender address every mailer is built with.
func parseFrom(from string) (*mail.Address, error) {
	if hasControl(from) {
		return nil, fmt.Errorf("notify: sender address %q has control characters", from)
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("notify: sender address %q: %w", from, err)
	}
	return a, nil
}

// hasControl reports characters that could end a header line or hide text: CR and LF above all, but also the
// other C0 and C1 controls, U+2028 and U+2029.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
	})
}

func validKind(k string) bool {
	if len(k) > maxKind {
		return false
	}
	for _, c := range []byte(k) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// check validates m and returns its parsed recipient. Header injection is refused here, before anything is
// written anywhere, rather than escaped: a recipient or subject with a line break is a bug or an attack.
func (m Message) check() (*mail.Address, error) {
	switch {
	case hasControl(m.To):
		return nil, fmt.Errorf("%w: To has a line break or control character", ErrInvalidMessage)
	case hasControl(m.Subject):
		return nil, fmt.Errorf("%w: Subject has a line break or control character", ErrInvalidMessage)
	case strings.TrimSpace(m.Subject) == "":
		return nil, fmt.Errorf("%w: empty Subject", ErrInvalidMessage)
	case len(m.Subject) > maxSubject:
		return nil, fmt.Errorf("%w: Subject longer than %d bytes", ErrInvalidMessage, maxSubject)
	case strings.TrimSpace(m.Text) == "":
		return nil, fmt.Errorf("%w: empty Text", ErrInvalidMessage)
	case !validKind(m.Kind):
		return nil, fmt.Errorf("%w: Kind %q is not lower-case letters, digits and '-'", ErrInvalidMessage, m.Kind)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("%w: To %q: %w", ErrInvalidMessage, m.To, err)
	}
	return to, nil
}

// compose renders m as an RFC 5322 message with CRLF line ends, as SMTP sends it and as the outbox stores it.
// eightBit says whether the way the message travels carries 8-bit text: the outbox always does, an SMTP relay
// when it offers 8BITMIME. Each body is written as its author wrote it when that is valid (bodyEncoding).
func compose(from, to *mail.Address, m Message, now time.Time, eightBit bool) ([]byte, error) {
	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(fold(name, value)) }
	header("Date", now.Format(time.RFC1123Z))
	header("From", from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Message-ID", "<"+randomHex(16)+"@"+domain(from.Address)+">")
	if m.Kind != "" {
		header("X-Wharf-Kind", m.Kind)
	}
	// Tells auto-responders and vacation replies not to answer (RFC 3834).
	header("Auto-Submitted", "auto-generated")
	header("MIME-Version", "1.0")

	if m.HTML == "" {
		cte := bodyEncoding(m.Text, eightBit)
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", cte)
		b.WriteString("\r\n")
		if err := writeBody(&b, cte, m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}

	parts := []struct{ typ, body, cte string }{
		// Plain text first: in multipart/alternative the last part is the preferred one.
		{"text/plain", m.Text, bodyEncoding(m.Text, eightBit)},
		{"text/html", m.HTML, bodyEncoding(m.HTML, eightBit)},
	}
	mw := multipart.NewWriter(&b)
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	// A multipart entity declares the widest encoding of its parts (RFC 2045, 6.4); 7bit is the default.
	for _, p := range parts {
		if p.cte == cte8bit {
			header("Content-Transfer-Encoding", cte8bit)
			break
		}
	}
	b.WriteString("\r\n")
	for _, p := range parts {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {p.cte},
		})
		if err != nil {
			return nil, err
		}
		if err := writeBody(w, p.cte, p.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}

// Content-Transfer-Encodings (RFC 2045).
const (
	cte7bit = "7bit"
	cte8bit = "8bit"
	cteQP   = "quoted-printable"
)

// maxLine is the longest line RFC 5322 allows, in octets, without its CRLF.
const maxLine = 998

// bodyEncoding chooses how body travels. Quoted-printable breaks every line at 76 characters with a trailing "=",
// which cuts the verification and reset links in two: a person reading the .eml file, or a mail program that shows
// the raw text, cannot copy them. So the text goes as it is, 7bit when it is ASCII and 8bit when it is UTF-8 and
// the transport carries 8-bit data, and quoted-printable only when the text could not travel as it is: a line over
// 998 octets, bytes that are not UTF-8, a NUL or a CR outside a line end, or 8-bit text for a relay without
// 8BITMIME.
func bodyEncoding(body string, eightBit bool) string {
	ascii := true
	for _, line := range lines(body) {
		if len(line) > maxLine || strings.ContainsAny(line, "\x00\r") {
			return cteQP
		}
		for i := 0; i < len(line); i++ {
			if line[i] >= utf8.RuneSelf {
				ascii = false
				break
			}
		}
	}
	switch {
	case ascii:
		return cte7bit
	case eightBit && utf8.ValidString(body):
		return cte8bit
	}
	return cteQP
}

// lines splits body at its line ends, LF or CRLF; a final line end ends the last line rather than starting another.
func lines(body string) []string {
	body = strings.ReplaceAll(body, "\r\n", "\n")
	return strings.Split(strings.TrimSuffix(body, "\n"), "\n")
}

// writeBody writes body in the encoding bodyEncoding chose, with CRLF line ends and a final one.
func writeBody(w io.Writer, cte, body string) error {
	if cte == cteQP {
		return writeQP(w, body)
	}
	var b strings.Builder
	for _, line := range lines(body) {
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeQP(w io.Writer, body string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(body)); err != nil {
		return err
	}
	if err := qp.Close(); err != nil {
		return err
	}
	if !strings.HasSuffix(body, "\n") {
		_, err := w.Write([]byte("\r\n"))
		return err
	}
	return nil
}

// fold writes one header line, folded at spaces so that lines stay near 78 characters where the value allows.
func fold(name, value string) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteString(":")
	line := len(name) + 1
	for i, word := range strings.Split(value, " ") {
		if i > 0 && word != "" && line+1+len(word) > 78 {
			b.WriteString("\r\n")
			line = 0
		}
		b.WriteString(" ")
		b.WriteString(word)
		line += 1 + len(word)
	}
	b.WriteString("\r\n")
	return b.String()
}

func domain(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "localhost"
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails: the runtime aborts first
	return hex.EncodeToString(b)
}
