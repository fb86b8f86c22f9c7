package notify

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/smtp"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SMTP sends mail through a relay. Every message opens its own connection: wharf sends few mails, and a fresh
// connection needs no keep-alive, reconnection or locking.
type SMTP struct {
	addr     string // host:port
	host     string
	tls      tlsMode
	user     string
	password string
	from     *mail.Address
	redacted string // the URL without its password, for String
	// tlsConfig is nil in production (system roots, the URL's host name); tests trust their own certificate.
	tlsConfig *tls.Config
	now       func() time.Time
}

type tlsMode int

const (
	plain    tlsMode = iota // smtp://: a relay on the same host or network
	startTLS                // smtp+starttls://: STARTTLS required, never skipped
	implicit                // smtps://: TLS from the first byte
)

// timeout bounds a whole send when the context has no deadline, so that a relay that stops answering cannot hold
// a request for ever.
const timeout = time.Minute

const urlHelp = "expected smtp://, smtps:// or smtp+starttls://, then user:password@host:port " +
	"(the user and password percent-encoded)"

// NewSMTP checks a WHARF_SMTP_URL and returns a mailer that sends from from:
//
//	smtp://host:port             plain SMTP (port 25), for a relay on this host or a trusted network
//	smtp+starttls://host:port    STARTTLS, required (port 587)
//	smtps://host:port            implicit TLS (port 465)
//
// with user:password@ before the host to authenticate with AUTH PLAIN. A password over plain smtp:// is refused
// unless the host is a loopback address, because it would cross the network in the clear. No error repeats the
// password.
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error quotes the whole URL, password included: say what is wrong without it.
		return nil, errors.New("WHARF_SMTP_URL: not a valid URL; " + urlHelp)
	}
	s := &SMTP{redacted: u.Redacted(), now: time.Now}
	var port string
	switch u.Scheme {
	case "smtp":
		s.tls, port = plain, "25"
	case "smtp+starttls":
		s.tls, port = startTLS, "587"
	case "smtps":
		s.tls, port = implicit, "465"
	default:
		return nil, fmt.Errorf("WHARF_SMTP_URL: scheme %q is not supported; %s", u.Scheme, urlHelp)
	}
	s.host = u.Hostname()
	if s.host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("WHARF_SMTP_URL: %s has no host; %s", s.redacted, urlHelp)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("WHARF_SMTP_URL: %s: port %q is not a port number", s.redacted, p)
		}
		port = p
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("WHARF_SMTP_URL: %s: a path, query or fragment is not supported; %s", s.redacted, urlHelp)
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		s.user = u.User.Username()
		pw, ok := u.User.Password()
		if s.user == "" || !ok || pw == "" {
			return nil, fmt.Errorf("WHARF_SMTP_URL: %s: give both a user and a password, or neither", s.redacted)
		}
		s.password = pw
		if s.tls == plain && !isLoopback(s.host) {
			return nil, fmt.Errorf("WHARF_SMTP_URL: %s: a password over plain smtp:// would cross the network "+
				"in the clear; use smtps:// or smtp+starttls://", s.redacted)
		}
	}
	if s.from, err = parseFrom(from); err != nil {
		return nil, err
	}
	return s, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// String describes the relay without the password, for logs.
func (s *SMTP) String() string { return s.redacted }

// GoString keeps %#v, which would print every field, from printing the password.
func (s *SMTP) GoString() string { return "notify.SMTP(" + s.redacted + ")" }

// Send delivers m to the relay. The context's deadline, or a minute, bounds the whole exchange; cancelling the
// context aborts it.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, err := m.check()
	if err != nil {
		return err
	}
	if err := s.send(ctx, to, m); err != nil {
		return s.redact(fmt.Errorf("notify: smtp %s: %w", s.addr, err))
	}
	return nil
}

func (s *SMTP) send(ctx context.Context, to *mail.Address, m Message) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(timeout)
	}
	d := net.Dialer{Deadline: deadline}
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	// net/smtp knows no contexts: closing the connection is how a cancellation reaches a blocked read or write.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	cfg := s.tlsConfig
	if cfg == nil {
		cfg = &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
	}
	if s.tls == implicit {
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return err
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return err
	}
	defer c.Close()
	// Some relays refuse "localhost"; the sender's domain is a name this installation owns.
	if err := c.Hello(domain(s.from.Address)); err != nil {
		return err
	}
	if s.tls == startTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("the server does not offer STARTTLS, which smtp+starttls:// requires")
		}
		if err := c.StartTLS(cfg); err != nil {
			return err
		}
	}
	if s.user != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("the URL has credentials but the server offers no AUTH")
		}
		// PlainAuth itself refuses to send the password over an unencrypted connection to anything but
		// localhost, a second guard behind the check in NewSMTP.
		if err := c.Auth(smtp.PlainAuth("", s.user, s.password, s.host)); err != nil {
			return err
		}
	}
	// The message is composed once the relay has said what it takes: 8-bit text only where it offers 8BITMIME
	// (RFC 6152), for which Mail then declares BODY=8BITMIME; a relay without it gets quoted-printable, which every
	// relay passes unchanged. ASCII text is 7bit either way.
	eightBit, _ := c.Extension("8BITMIME")
	data, err := compose(s.from, to, m, s.now(), eightBit)
	if err != nil {
		return err
	}
	if err := c.Mail(s.from.Address); err != nil {
		return err
	}
	if err := c.Rcpt(to.Address); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// redact removes the password from err's text in every form it could take on the wire: a server that echoes
// what it received must not put the password in wharf's logs. The cause is then dropped, not wrapped, so that
// nothing reaches the password through errors.Unwrap.
func (s *SMTP) redact(err error) error {
	if s.password == "" {
		return err
	}
	msg := err.Error()
	clean := msg
	for _, secret := range []string{
		base64.StdEncoding.EncodeToString([]byte("\x00" + s.user + "\x00" + s.password)), // AUTH PLAIN
		base64.StdEncoding.EncodeToString([]byte(s.password)),                            // AUTH LOGIN
		s.password,
	} {
		clean = strings.ReplaceAll(clean, secret, "xxxxx")
	}
	if clean == msg {
		return err
	}
	return errors.New(clean)
}
