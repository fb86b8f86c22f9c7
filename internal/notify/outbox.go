package notify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Outbox is the embedded Mailer: each message becomes one .eml file in a folder, so that a new installation needs
// no mail server and an administrator or a test can read what would have been sent. Messages hold reset and
// verification links, which are as good as passwords until used: the folder is 0700 and the files 0600.
type Outbox struct {
	dir  string
	from *mail.Address
	now  func() time.Time
	// sync makes a written file durable; tests replace it to make the disk fail.
	sync func(*os.File) error
}

// Stored describes one message in the outbox.
type Stored struct {
	Name    string    // file name in the outbox folder
	Time    time.Time // the Date header, in UTC, to the second
	To      string    // the recipient's address
	Subject string
	Kind    string
}

// tempPrefix starts the names of files being written. List skips them: they are either still being written or
// left over from a crash, and in both cases not a message.
const tempPrefix = ".sending-"

// NewOutbox returns an outbox that writes into dir, creating it, with from as the sender.
func NewOutbox(dir, from string, now func() time.Time) (*Outbox, error) {
	f, err := parseFrom(from)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("notify: outbox: %w", err)
	}
	return &Outbox{dir: dir, from: f, now: now, sync: (*os.File).Sync}, nil
}

// Send writes m as a new .eml file. The file appears complete or not at all: it is written under a temporary
// name, synced, and renamed, and the folder is synced so the rename survives a power loss. Names start with the
// UTC time to the nanosecond, so that they sort by time, and end with a random part, so that concurrent sends
// never pick the same name.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	to, err := m.check()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := o.now()
	// A file carries 8-bit text: the person who opens it reads the UTF-8 as it was written.
	data, err := compose(o.from, to, m, now, true)
	if err != nil {
		return err
	}
	name := now.UTC().Format("20060102T150405.000000000Z") + "-" + cmp.Or(m.Kind, "mail") + "-" + randomHex(6) + ".eml"
	if err := o.write(name, data); err != nil {
		return fmt.Errorf("notify: outbox: %w", err)
	}
	return nil
}

func (o *Outbox) write(name string, data []byte) (err error) {
	f, err := os.CreateTemp(o.dir, tempPrefix+"*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := o.sync(f); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(o.dir, name)); err != nil {
		return err
	}
	d, err := os.Open(o.dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// Dir is the folder the messages are written into.
func (o *Outbox) Dir() string { return o.dir }

// List returns the messages in the outbox, oldest first.
func (o *Outbox) List() ([]Stored, error) {
	entries, err := os.ReadDir(o.dir)
	if err != nil {
		return nil, fmt.Errorf("notify: outbox: %w", err)
	}
	var out []Stored
	for _, e := range entries {
		if !isMessageName(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		s, err := o.stat(e.Name())
		if err != nil {
			return nil, fmt.Errorf("notify: outbox: %s: %w", e.Name(), err)
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Stored) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (o *Outbox) stat(name string) (Stored, error) {
	f, err := os.Open(filepath.Join(o.dir, name))
	if err != nil {
		return Stored{}, err
	}
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	if err != nil {
		return Stored{}, err
	}
	s := Stored{Name: name, Kind: msg.Header.Get("X-Wharf-Kind"), To: msg.Header.Get("To")}
	if s.Time, err = msg.Header.Date(); err != nil {
		return Stored{}, err
	}
	s.Time = s.Time.UTC()
	if to, err := mail.ParseAddress(s.To); err == nil {
		s.To = to.Address
	}
	s.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return Stored{}, err
	}
	return s, nil
}

// Read returns the whole message stored under name, as List gave it.
func (o *Outbox) Read(name string) ([]byte, error) {
	if !isMessageName(name) || filepath.Base(name) != name || strings.ContainsRune(name, '\\') {
		return nil, fmt.Errorf("notify: outbox: %q is not a message name", name)
	}
	b, err := os.ReadFile(filepath.Join(o.dir, name))
	if err != nil {
		return nil, fmt.Errorf("notify: outbox: %w", err)
	}
	return b, nil
}

func isMessageName(name string) bool {
	return strings.HasSuffix(name, ".eml") && !strings.HasPrefix(name, ".")
}
