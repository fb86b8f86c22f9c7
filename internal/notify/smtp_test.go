package notify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const (
	testUser     = "wharf-mailer"
	testPassword = "hunter2-Secret-Pw"
)

// received is what the test server got in one mail transaction.
type received struct {
	From string
	To   []string
	Data []byte
	User string // the authenticated user, if any
	TLS  bool
	Body string // MAIL FROM's BODY parameter: 8BITMIME when the client declared 8-bit text
}

// backend is an in-process SMTP server's behaviour: it requires authentication when user is set, and can be
// told to echo the credentials it got in its error, as a hostile or careless server might.
type backend struct {
	user, password string
	echo           bool
	rejectRcpt     bool

	mu   sync.Mutex
	msgs []received
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, tls := c.TLSConnectionState()
	return &session{b: b, r: received{TLS: tls}}, nil
}

func (b *backend) received() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

type session struct {
	b *backend
	r received
}

func (s *session) AuthMechanisms() []string {
	if s.b.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		if user == s.b.user && password == s.b.password {
			s.r.User = user
			return nil
		}
		if s.b.echo {
			blob := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8},
				Message: fmt.Sprintf("no such credentials: %s / %s (%s)", user, password, blob)}
		}
		return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "invalid credentials"}
	}), nil
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if s.b.user != "" && s.r.User == "" {
		return smtp.ErrAuthRequired
	}
	s.r.From = from
	if opts != nil {
		s.r.Body = string(opts.Body)
	}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.b.rejectRcpt {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	s.r.To = append(s.r.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.r.Data = b
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.r)
	s.b.mu.Unlock()
	return nil
}

func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "wharf test SMTP"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		// The TLS client checks validity against the real clock, not the test's.
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// serve starts an SMTP server on a free loopback port and returns its host:port. With cert set, it offers
// STARTTLS, or speaks TLS from the start when implicitTLS is set.
func serve(t *testing.T, be *backend, cert *tls.Certificate, implicitTLS bool) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = discardLogger{}
	if cert == nil {
		s.AllowInsecureAuth = true // loopback only; NewSMTP refuses passwords over plain SMTP elsewhere
	} else {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
		if implicitTLS {
			l = tls.NewListener(l, s.TLSConfig)
		}
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return l.Addr().String()
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

func newTestSMTP(t *testing.T, rawURL string, pool *x509.CertPool) *SMTP {
	t.Helper()
	s, err := NewSMTP(rawURL, sender)
	if err != nil {
		t.Fatal(err)
	}
	s.now = fixed(epoch)
	if pool != nil {
		s.tlsConfig = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	}
	return s
}

func TestSMTPSends(t *testing.T) {
	cert, pool := selfSigned(t)
	creds := testUser + ":" + testPassword + "@"
	for _, tc := range []struct {
		name        string
		scheme      string
		credentials bool
		tls         bool
		implicitTLS bool
		want        received
	}{
		{"plain, no authentication", "smtp", false, false, false, received{}},
		{"plain, authenticated on loopback", "smtp", true, false, false, received{User: testUser}},
		{"STARTTLS, no authentication", "smtp+starttls", false, true, false, received{TLS: true}},
		{"STARTTLS, authenticated", "smtp+starttls", true, true, false, received{TLS: true, User: testUser}},
		{"implicit TLS, authenticated", "smtps", true, true, true, received{TLS: true, User: testUser}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := &backend{}
			u := tc.scheme + "://"
			if tc.credentials {
				be.user, be.password = testUser, testPassword
				u += creds
			}
			var c *tls.Certificate
			if tc.tls {
				c = &cert
			}
			s := newTestSMTP(t, u+serve(t, be, c, tc.implicitTLS), pool)
			msg := Message{To: "Alice <alice@example.com>", Subject: "Your password was changed", Kind: "password-changed",
				Text: "Hello,\n.\nA line with a lone dot above, which SMTP must not take for the end.\n"}
			if err := s.Send(t.Context(), msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := be.received()
			if len(got) != 1 {
				t.Fatalf("server received %d messages, want 1", len(got))
			}
			p := parse(t, got[0].Data)
			// go-smtp offers 8BITMIME, and net/smtp then declares it whatever the body.
			tc.want.From, tc.want.To, tc.want.Body = "noreply@index.example.org", []string{"alice@example.com"}, "8BITMIME"
			if diff := cmp.Diff(tc.want, got[0], cmpopts.IgnoreFields(received{}, "Data")); diff != "" {
				t.Errorf("envelope (-want +got):\n%s", diff)
			}
			gotMsg := map[string]string{"Subject": p.Header["Subject"], "Kind": p.Header["X-Wharf-Kind"], "Text": p.Text,
				"Date": p.Header["Date"]}
			wantMsg := map[string]string{"Subject": msg.Subject, "Kind": msg.Kind, "Text": msg.Text,
				"Date": "Sun, 01 Mar 2026 12:30:45 +0000"}
			if diff := cmp.Diff(wantMsg, gotMsg); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSMTPFailures(t *testing.T) {
	cert, pool := selfSigned(t)
	creds := testUser + ":" + testPassword + "@"
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) (*SMTP, *backend)
		ctx   func(context.Context) context.Context
		want  string // in the error
	}{
		{"STARTTLS required but not offered", func(t *testing.T) (*SMTP, *backend) {
			be := &backend{}
			return newTestSMTP(t, "smtp+starttls://"+creds+serve(t, be, nil, false), pool), be
		}, nil, "STARTTLS"},
		{"certificate not trusted", func(t *testing.T) (*SMTP, *backend) {
			be := &backend{user: testUser, password: testPassword}
			return newTestSMTP(t, "smtp+starttls://"+creds+serve(t, be, &cert, false), nil), be
		}, nil, "certificate"},
		{"implicit TLS certificate not trusted", func(t *testing.T) (*SMTP, *backend) {
			be := &backend{user: testUser, password: testPassword}
			return newTestSMTP(t, "smtps://"+creds+serve(t, be, &cert, true), nil), be
		}, nil, "certificate"},
		{"wrong password echoed back by the server", func(t *testing.T) (*SMTP, *backend) {
			be := &backend{user: testUser, password: "another password", echo: true}
			return newTestSMTP(t, "smtp+starttls://"+creds+serve(t, be, &cert, false), pool), be
		}, nil, "535"},
		{"credentials but the server offers no AUTH", func(t *testing.T) (*SMTP, *backend) {
			be := &backend{}
			return newTestSMTP(t, "smtp+starttls://"+creds+serve(t, be, &cert, false), pool), be
		}, nil, "AUTH"},
		{"no credentials but the server requires them", func(t *testing.T) (*SMTP, *backend) {
			be := &backend{user: testUser, password: testPassword}
			return newTestSMTP(t, "smtp+starttls://"+serve(t, be, &cert, false), pool), be
		}, nil, "authenticate"},
		{"recipient rejected", func(t *testing.T) (*SMTP, *backend) {
			be := &backend{rejectRcpt: true}
			return newTestSMTP(t, "smtp://"+serve(t, be, nil, false), pool), be
		}, nil, "550"},
		{"nothing listening", func(t *testing.T) (*SMTP, *backend) {
			return newTestSMTP(t, "smtps://"+creds+closed(), pool), &backend{}
		}, nil, "refused"},
		{"context already canceled", func(t *testing.T) (*SMTP, *backend) {
			be := &backend{}
			return newTestSMTP(t, "smtp://"+serve(t, be, nil, false), pool), be
		}, func(ctx context.Context) context.Context {
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			return ctx
		}, "canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, be := tc.setup(t)
			ctx := t.Context()
			if tc.ctx != nil {
				ctx = tc.ctx(ctx)
			}
			err := s.Send(ctx, Message{To: "alice@example.com", Subject: "s", Text: "t"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Send: err = %v, want one mentioning %q", err, tc.want)
			}
			plainBlob := base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + testPassword))
			for _, secret := range []string{testPassword, plainBlob, base64.StdEncoding.EncodeToString([]byte(testPassword))} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows the password: %v", err)
				}
			}
			if n := len(be.received()); n != 0 {
				t.Errorf("the server accepted %d messages", n)
			}
		})
	}
}

func TestSMTPRefusesInvalidMessage(t *testing.T) {
	be := &backend{}
	s := newTestSMTP(t, "smtp://"+serve(t, be, nil, false), nil)
	err := s.Send(t.Context(), Message{To: "alice@example.com\r\nBcc: eve@example.com", Subject: "s", Text: "t"})
	if !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("Send: err = %v, want ErrInvalidMessage", err)
	}
	if n := len(be.received()); n != 0 {
		t.Errorf("the server received %d messages", n)
	}
}

func TestNewSMTP(t *testing.T) {
	const pw = "hunter2-Secret-Pw"
	type conf struct {
		Addr   string
		TLS    tlsMode
		User   string
		String string
	}
	for _, tc := range []struct {
		name    string
		url     string
		want    conf
		wantErr string // in the error, besides WHARF_SMTP_URL
	}{
		{"plain relay, default port", "smtp://relay.example.org", conf{"relay.example.org:25", plain, "", "smtp://relay.example.org"}, ""},
		{"implicit TLS, default port", "smtps://u:" + pw + "@smtp.example.org",
			conf{"smtp.example.org:465", implicit, "u", "smtps://u:xxxxx@smtp.example.org"}, ""},
		{"STARTTLS, own port", "smtp+starttls://u:" + pw + "@smtp.example.org:2525",
			conf{"smtp.example.org:2525", startTLS, "u", "smtp+starttls://u:xxxxx@smtp.example.org:2525"}, ""},
		{"percent-encoded user and password", "smtps://me%40example.org:p%40ss%3Aword@smtp.example.org",
			conf{"smtp.example.org:465", implicit, "me@example.org", "smtps://me%40example.org:xxxxx@smtp.example.org"}, ""},
		{"password over plain SMTP to localhost", "smtp://u:" + pw + "@localhost:2525",
			conf{"localhost:2525", plain, "u", "smtp://u:xxxxx@localhost:2525"}, ""},
		{"password over plain SMTP to IPv6 loopback", "smtp://u:" + pw + "@[::1]",
			conf{"[::1]:25", plain, "u", "smtp://u:xxxxx@[::1]"}, ""},
		{"trailing slash", "smtps://smtp.example.org/", conf{"smtp.example.org:465", implicit, "", "smtps://smtp.example.org/"}, ""},

		{"empty", "", conf{}, "scheme"},
		{"unknown scheme", "http://u:" + pw + "@smtp.example.org", conf{}, "scheme"},
		{"password over plain SMTP across the network", "smtp://u:" + pw + "@relay.example.org", conf{}, "in the clear"},
		{"no host", "smtps://u:" + pw + "@", conf{}, "no host"},
		{"no host, only a port", "smtps://u:" + pw + "@:465", conf{}, "no host"},
		{"opaque", "smtps:relay.example.org", conf{}, "no host"},
		{"port out of range", "smtps://u:" + pw + "@smtp.example.org:99999", conf{}, "port"},
		{"port not a number", "smtps://u:" + pw + "@smtp.example.org:smtp", conf{}, "not a valid URL"},
		{"user without password", "smtps://u@smtp.example.org", conf{}, "both"},
		{"password without user", "smtps://:" + pw + "@smtp.example.org", conf{}, "both"},
		{"path", "smtps://u:" + pw + "@smtp.example.org/inbox", conf{}, "path"},
		{"query", "smtps://u:" + pw + "@smtp.example.org?tls=no", conf{}, "query"},
		{"control character", "smtps://u:" + pw + "@smtp.example.org\n", conf{}, "not a valid URL"},
		{"bad percent-encoding", "smtps://u:" + pw + "%zz@smtp.example.org", conf{}, "not a valid URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSMTP(tc.url, sender)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), "WHARF_SMTP_URL") || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming WHARF_SMTP_URL and %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), pw) {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, conf{s.addr, s.tls, s.user, s.String()}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if printed := fmt.Sprintf("%v %+v %#v %s", s, s, s, s); strings.Contains(printed, pw) {
				t.Errorf("printing the mailer shows the password")
			}
		})
	}
	if _, err := NewSMTP("smtp://localhost", "not an address"); err == nil {
		t.Error("NewSMTP accepted a bad sender address")
	}
}

// TestSMTPEncodingFollows8BITMIME sends UTF-8 text with a long link to a relay that offers 8BITMIME, which gets it
// as 8bit text, and to one that does not, which gets quoted-printable; both decode to the text sent.
func TestSMTPEncodingFollows8BITMIME(t *testing.T) {
	msg := Message{To: "Zoë <zoe@example.com>", Subject: "Bienvenue", Text: "Hello Zoë,\n\n" + longLink + "\n"}
	t.Run("the relay offers 8BITMIME", func(t *testing.T) {
		be := &backend{}
		if err := newTestSMTP(t, "smtp://"+serve(t, be, nil, false), nil).Send(t.Context(), msg); err != nil {
			t.Fatal(err)
		}
		got := be.received()
		if len(got) != 1 {
			t.Fatalf("server received %d messages, want 1", len(got))
		}
		p := parse(t, got[0].Data)
		if diff := cmp.Diff([]string{"8BITMIME", cte8bit, msg.Text}, []string{got[0].Body, p.TextCTE, p.Text}); diff != "" {
			t.Errorf("BODY, Content-Transfer-Encoding and text (-want +got):\n%s", diff)
		}
		if !strings.Contains(string(got[0].Data), "\r\n"+longLink+"\r\n") {
			t.Errorf("the link is not whole on a line:\n%s", got[0].Data)
		}
	})
	t.Run("the relay does not", func(t *testing.T) {
		addr, mailFrom, data := sevenBitRelay(t)
		if err := newTestSMTP(t, "smtp://"+addr, nil).Send(t.Context(), msg); err != nil {
			t.Fatal(err)
		}
		if m := <-mailFrom; strings.Contains(m, "BODY=") {
			t.Errorf("MAIL command %q declares a body type the relay does not offer", m)
		}
		p := parse(t, <-data)
		if diff := cmp.Diff([]string{cteQP, msg.Text}, []string{p.TextCTE, p.Text}); diff != "" {
			t.Errorf("Content-Transfer-Encoding and text (-want +got):\n%s", diff)
		}
	})
}

// sevenBitRelay is an SMTP server for one message that offers no extension at all, as relays before RFC 6152 do:
// it may be sent 7-bit data only. It reports the MAIL command and the message it got.
func sevenBitRelay(t *testing.T) (addr string, mailFrom <-chan string, data <-chan []byte) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	mails, datas := make(chan string, 1), make(chan []byte, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		tp := textproto.NewConn(conn)
		tp.PrintfLine("220 relay.example.org ESMTP")
		for {
			line, err := tp.ReadLine()
			if err != nil {
				return
			}
			switch verb, _, _ := strings.Cut(strings.ToUpper(line), " "); verb {
			case "EHLO", "HELO":
				tp.PrintfLine("250 relay.example.org")
			case "MAIL":
				mails <- line
				tp.PrintfLine("250 ok")
			case "RCPT":
				tp.PrintfLine("250 ok")
			case "DATA":
				tp.PrintfLine("354 end with a dot")
				b, err := tp.ReadDotBytes()
				if err != nil {
					return
				}
				// ReadDotBytes turns CRLF into LF: put the wire's line ends back.
				datas <- bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
				tp.PrintfLine("250 queued")
			case "QUIT":
				tp.PrintfLine("221 bye")
				return
			default:
				tp.PrintfLine("502 not implemented")
			}
		}
	}()
	return l.Addr().String(), mails, datas
}
