package tokens

import (
	"bytes"
	"encoding/binary"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var (
	testKey  = bytes.Repeat([]byte{0x42}, 32)
	otherKey = bytes.Repeat([]byte{0x43}, 32)
	// t0 is a whole second, so caveat rounding does not blur the boundaries.
	t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func newTestMinter(t testing.TB, key []byte) *Minter {
	t.Helper()
	m, err := NewMinter(key)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mint(t testing.TB, m *Minter, c Caveats) (token, id string) {
	t.Helper()
	token, id, err := m.Mint(c)
	if err != nil {
		t.Fatalf("Mint(%+v): %v", c, err)
	}
	return token, id
}

func attenuate(t testing.TB, token string, c Caveats) string {
	t.Helper()
	out, err := Attenuate(token, c)
	if err != nil {
		t.Fatalf("Attenuate(%+v): %v", c, err)
	}
	return out
}

// craft builds a token from raw caveat bytes, signed with m's key, bypassing
// every check that Mint makes: it is how the tests reach Verify's parser
// with authentic but hostile caveats.
func craft(m *Minter, caveats ...string) string {
	var id [idLen]byte
	copy(id[:], "0123456789abcdef")
	cavs := make([][]byte, len(caveats))
	for i, c := range caveats {
		cavs[i] = []byte(c)
	}
	b := []byte{formatVersion}
	b = append(b, id[:]...)
	for _, c := range cavs {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	b = append(b, m.chain(id, cavs)...)
	return Prefix + b64.EncodeToString(b)
}

func TestNewMinterKeyLength(t *testing.T) {
	if _, err := NewMinter(make([]byte, 31)); err == nil {
		t.Error("NewMinter accepted a 31-byte key")
	}
	if _, err := NewMinter(make([]byte, 32)); err != nil {
		t.Errorf("NewMinter(32 bytes): %v", err)
	}
}

func TestNewMinterCopiesKey(t *testing.T) {
	key := bytes.Clone(testKey)
	m := newTestMinter(t, key)
	tok, _ := mint(t, m, Caveats{UserID: 1})
	key[0] ^= 0xff
	if _, err := m.Verify(tok, t0); err != nil {
		t.Errorf("Verify after the caller changed its key slice: %v", err)
	}
}

func TestMintVerifyRoundTrip(t *testing.T) {
	m := newTestMinter(t, testKey)
	tests := []struct {
		name string
		c    Caveats
		want Verified // ID is filled in from Mint
	}{
		{
			name: "whole account",
			c:    Caveats{UserID: 7},
			want: Verified{UserID: 7},
		},
		{
			name: "one project",
			c:    Caveats{UserID: 7, Projects: []string{"requests"}},
			want: Verified{UserID: 7, Projects: []string{"requests"}},
		},
		{
			name: "projects sorted and deduplicated",
			c:    Caveats{UserID: 7, Projects: []string{"zope-interface", "a1", "zope-interface", "b"}},
			want: Verified{UserID: 7, Projects: []string{"a1", "b", "zope-interface"}},
		},
		{
			name: "validity window",
			c:    Caveats{UserID: 9, NotBefore: t0.Add(-time.Hour), Expires: t0.Add(time.Hour)},
			want: Verified{UserID: 9, NotBefore: t0.Add(-time.Hour), Expires: t0.Add(time.Hour)},
		},
		{
			name: "everything",
			c:    Caveats{UserID: 1 << 62, Projects: []string{"x"}, NotBefore: t0, Expires: t0.Add(15 * time.Minute)},
			want: Verified{UserID: 1 << 62, Projects: []string{"x"}, NotBefore: t0, Expires: t0.Add(15 * time.Minute)},
		},
		{
			name: "sub-second times round towards the narrower window",
			c:    Caveats{UserID: 3, NotBefore: t0.Add(-1500 * time.Millisecond), Expires: t0.Add(1500 * time.Millisecond)},
			want: Verified{UserID: 3, NotBefore: t0.Add(-time.Second), Expires: t0.Add(time.Second)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, id := mint(t, m, tt.c)
			got, err := m.Verify(tok, t0)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			tt.want.ID = id
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Verify mismatch (-want +got):\n%s", diff)
			}
			if parsed, err := ParseID(tok); err != nil || parsed != id {
				t.Errorf("ParseID = %q, %v; want %q", parsed, err, id)
			}
		})
	}
}

func TestMintIDAndShape(t *testing.T) {
	m := newTestMinter(t, testKey)
	idRE := regexp.MustCompile(`^[0-9a-f]{32}$`)
	tokenRE := regexp.MustCompile(`^wharf-[A-Za-z0-9_-]+$`)
	seen := map[string]bool{}
	for range 100 {
		tok, id := mint(t, m, Caveats{UserID: 1, Expires: t0})
		if !idRE.MatchString(id) {
			t.Fatalf("id %q is not 128 bits of lowercase hex", id)
		}
		if !tokenRE.MatchString(tok) {
			t.Fatalf("token %q does not match %v", tok, tokenRE)
		}
		if len(tok) > 120 {
			t.Errorf("token with a user and an expiry is %d characters", len(tok))
		}
		if seen[id] {
			t.Fatalf("id %s minted twice", id)
		}
		seen[id] = true
	}
}

func TestMintRefuses(t *testing.T) {
	m := newTestMinter(t, testKey)
	many := make([]string, 1000)
	for i := range many {
		many[i] = strings.Repeat("p", 10) + string(rune('a'+i%26)) + strings.Repeat("q", i/26+1)
	}
	tests := []struct {
		name string
		c    Caveats
	}{
		{"no user", Caveats{}},
		{"negative user", Caveats{UserID: -1}},
		{"uppercase project", Caveats{UserID: 1, Projects: []string{"Requests"}}},
		{"underscore", Caveats{UserID: 1, Projects: []string{"zope_interface"}}},
		{"dot", Caveats{UserID: 1, Projects: []string{"zope.interface"}}},
		{"double hyphen", Caveats{UserID: 1, Projects: []string{"a--b"}}},
		{"leading hyphen", Caveats{UserID: 1, Projects: []string{"-a"}}},
		{"trailing hyphen", Caveats{UserID: 1, Projects: []string{"a-"}}},
		{"empty name", Caveats{UserID: 1, Projects: []string{""}}},
		{"non-ASCII", Caveats{UserID: 1, Projects: []string{"pé"}}},
		{"markup", Caveats{UserID: 1, Projects: []string{"<a>"}}},
		{"expiry equals not-before", Caveats{UserID: 1, NotBefore: t0, Expires: t0}},
		{"expiry before not-before", Caveats{UserID: 1, NotBefore: t0, Expires: t0.Add(-time.Second)}},
		{"window empty after rounding", Caveats{UserID: 1, NotBefore: t0.Add(100 * time.Millisecond), Expires: t0.Add(900 * time.Millisecond)}},
		{"before 1970", Caveats{UserID: 1, Expires: time.Unix(-10, 0)}},
		{"too large", Caveats{UserID: 1, Projects: many}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, id, err := m.Mint(tt.c)
			if !errors.Is(err, ErrInvalidCaveats) {
				t.Errorf("Mint = %q, %q, %v; want ErrInvalidCaveats", tok, id, err)
			}
		})
	}
}

func TestVerifyErrors(t *testing.T) {
	m := newTestMinter(t, testKey)
	good, _ := mint(t, m, Caveats{UserID: 7})
	body := strings.TrimPrefix(good, Prefix)
	raw, err := b64.DecodeString(body)
	if err != nil {
		t.Fatal(err)
	}
	reencode := func(f func([]byte) []byte) string {
		return Prefix + b64.EncodeToString(f(bytes.Clone(raw)))
	}
	tooMany := make([]string, MaxCaveats+1)
	for i := range tooMany {
		tooMany[i] = `{"user":7}`
	}
	tests := []struct {
		name  string
		token string
		want  error
	}{
		// Structure.
		{"empty", "", ErrMalformed},
		{"prefix only", Prefix, ErrMalformed},
		{"no prefix", body, ErrMalformed},
		{"other prefix", "pypi-" + body, ErrMalformed},
		{"uppercase prefix", "WHARF-" + body, ErrMalformed},
		{"standard base64 alphabet", Prefix + strings.NewReplacer("-", "+", "_", "/").Replace(body) + "+/", ErrMalformed},
		{"padding", good + "=", ErrMalformed},
		{"newline inside", Prefix + body[:10] + "\n" + body[10:], ErrMalformed},
		{"space after", good + " ", ErrMalformed},
		{"too short", Prefix + b64.EncodeToString(raw[:1+idLen+sigLen-1]), ErrMalformed},
		{"unknown version", reencode(func(b []byte) []byte { b[0] = 2; return b }), ErrMalformed},
		{"over the length limit", good + strings.Repeat("A", MaxTokenLen), ErrMalformed},
		{"zero-length caveat", reencode(func(b []byte) []byte {
			return append(append(b[:1+idLen:1+idLen], 0), b[len(b)-sigLen:]...)
		}), ErrMalformed},
		{"caveat length past the end", reencode(func(b []byte) []byte { b[1+idLen] = 0x7f; return b }), ErrMalformed},
		{"non-minimal varint", reencode(func(b []byte) []byte {
			cav := b[1+idLen+1 : len(b)-sigLen]
			out := append(b[:1+idLen:1+idLen], byte(len(cav))|0x80, 0x00)
			out = append(out, cav...)
			return append(out, b[len(b)-sigLen:]...)
		}), ErrMalformed},
		{"too many caveats", craft(m, tooMany...), ErrMalformed},

		// Signature.
		{"other server key", func() string { tok, _ := mint(t, newTestMinter(t, otherKey), Caveats{UserID: 7}); return tok }(), ErrBadSignature},
		{"signature zeroed", reencode(func(b []byte) []byte { clear(b[len(b)-sigLen:]); return b }), ErrBadSignature},
		{"id changed", reencode(func(b []byte) []byte { b[1] ^= 1; return b }), ErrBadSignature},
		{"caveat changed", reencode(func(b []byte) []byte { b[len(b)-sigLen-2] = '8'; return b }), ErrBadSignature},
		{"caveat removed", reencode(func(b []byte) []byte { return append(b[:1+idLen:1+idLen], b[len(b)-sigLen:]...) }), ErrBadSignature},

		// Authentic tokens with caveats Verify must refuse.
		{"no caveats", craft(m), ErrMalformed},
		{"no user", craft(m, `{"projects":["a"]}`), ErrMalformed},
		{"users disagree", craft(m, `{"user":7}`, `{"user":8}`), ErrMalformed},
		{"user zero", craft(m, `{"user":0}`), ErrMalformed},
		{"user negative", craft(m, `{"user":-7}`), ErrMalformed},
		{"user as string", craft(m, `{"user":"7"}`), ErrMalformed},
		{"user null", craft(m, `{"user":null}`), ErrMalformed},
		{"user float", craft(m, `{"user":7.0}`), ErrMalformed},
		{"user exponent", craft(m, `{"user":7e0}`), ErrMalformed},
		{"unknown kind", craft(m, `{"user":7}`, `{"ip":"10.0.0.1"}`), ErrMalformed},
		{"kind in other case", craft(m, `{"User":7}`), ErrMalformed},
		{"two members", craft(m, `{"user":7,"exp":1}`), ErrMalformed},
		{"duplicate key", craft(m, `{"user":8,"user":7}`), ErrMalformed},
		{"empty object", craft(m, `{"user":7}`, `{}`), ErrMalformed},
		{"not an object", craft(m, `{"user":7}`, `["exp",1]`), ErrMalformed},
		{"not JSON", craft(m, `{"user":7}`, `exp=1`), ErrMalformed},
		{"spaces", craft(m, `{"user": 7}`), ErrMalformed},
		{"trailing data", craft(m, `{"user":7} `), ErrMalformed},
		{"projects null", craft(m, `{"user":7}`, `{"projects":null}`), ErrMalformed},
		{"projects unsorted", craft(m, `{"user":7}`, `{"projects":["b","a"]}`), ErrMalformed},
		{"projects duplicated", craft(m, `{"user":7}`, `{"projects":["a","a"]}`), ErrMalformed},
		{"project not normalised", craft(m, `{"user":7}`, `{"projects":["A"]}`), ErrMalformed},
		{"project escaped", craft(m, `{"user":7}`, `{"projects":["\u0061"]}`), ErrMalformed},
		{"projects not strings", craft(m, `{"user":7}`, `{"projects":[1]}`), ErrMalformed},
		{"exp negative", craft(m, `{"user":7}`, `{"exp":-1}`), ErrMalformed},
		{"exp float", craft(m, `{"user":7}`, `{"exp":1.5}`), ErrMalformed},
		{"exp string", craft(m, `{"user":7}`, `{"exp":"2030-01-01"}`), ErrMalformed},
		{"nbf null", craft(m, `{"user":7}`, `{"nbf":null}`), ErrMalformed},

		// Authentic, well-formed, but not valid now.
		{"empty projects list", craft(m, `{"user":7}`, `{"projects":[]}`), ErrNoProjects},
		{"disjoint projects", craft(m, `{"user":7}`, `{"projects":["a"]}`, `{"projects":["b"]}`), ErrNoProjects},
		{"expired", craft(m, `{"user":7}`, `{"exp":1}`), ErrExpired},
		{"not yet valid", craft(m, `{"user":7}`, `{"nbf":4102444800}`), ErrNotYetValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.Verify(tt.token, t0)
			if !errors.Is(err, tt.want) {
				t.Errorf("Verify = %+v, %v; want %v", got, err, tt.want)
			}
			if diff := cmp.Diff(Verified{}, got); diff != "" {
				t.Errorf("Verify returned a non-zero Verified with an error:\n%s", diff)
			}
			if got.AllowsProject("a") {
				t.Error("a failed Verify allows a project")
			}
		})
	}
}

func TestVerifyAcceptsCraftedEquivalent(t *testing.T) {
	// Guards the craft helper: the same caveats Mint would write verify.
	m := newTestMinter(t, testKey)
	v, err := m.Verify(craft(m, `{"user":7}`, `{"user":7}`, `{"projects":["a","b"]}`, `{"nbf":1}`, `{"exp":4102444800}`), t0)
	if err != nil {
		t.Fatal(err)
	}
	want := Verified{ID: "30313233343536373839616263646566", UserID: 7, Projects: []string{"a", "b"}, NotBefore: time.Unix(1, 0), Expires: time.Unix(4102444800, 0)}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestTampering flips, truncates and extends a token everywhere: nothing but
// the original may verify.
func TestTampering(t *testing.T) {
	m := newTestMinter(t, testKey)
	tok, _ := mint(t, m, Caveats{UserID: 7, Projects: []string{"a", "b"}, NotBefore: t0.Add(-time.Hour), Expires: t0.Add(time.Hour)})
	tok = attenuate(t, tok, Caveats{Projects: []string{"b"}})
	if _, err := m.Verify(tok, t0); err != nil {
		t.Fatalf("untouched token: %v", err)
	}
	for i := range len(tok) {
		for _, mask := range []byte{0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80} {
			b := []byte(tok)
			b[i] ^= mask
			if v, err := m.Verify(string(b), t0); err == nil {
				t.Fatalf("byte %d ^ %#x: verified as %+v", i, mask, v)
			}
		}
	}
	for n := range len(tok) {
		if _, err := m.Verify(tok[:n], t0); err == nil {
			t.Fatalf("prefix of %d characters verified", n)
		}
	}
	for _, suffix := range []string{"A", "AA", "AAA", "AAAA", "_", "=", "\n"} {
		if _, err := m.Verify(tok+suffix, t0); err == nil {
			t.Fatalf("token + %q verified", suffix)
		}
	}
}

func TestAttenuate(t *testing.T) {
	m := newTestMinter(t, testKey)
	tests := []struct {
		name    string
		mint    Caveats
		add     []Caveats
		now     time.Time
		want    Verified // ID is filled in from Mint
		wantErr error
	}{
		{
			name: "account token narrowed to one project",
			mint: Caveats{UserID: 7},
			add:  []Caveats{{Projects: []string{"a"}}},
			want: Verified{UserID: 7, Projects: []string{"a"}},
		},
		{
			name: "projects intersect",
			mint: Caveats{UserID: 7, Projects: []string{"a", "b"}},
			add:  []Caveats{{Projects: []string{"b", "c"}}},
			want: Verified{UserID: 7, Projects: []string{"b"}},
		},
		{
			name:    "another project cannot be added",
			mint:    Caveats{UserID: 7, Projects: []string{"a"}},
			add:     []Caveats{{Projects: []string{"c"}}},
			wantErr: ErrNoProjects,
		},
		{
			name: "adding a superset does not widen",
			mint: Caveats{UserID: 7, Projects: []string{"a"}},
			add:  []Caveats{{Projects: []string{"a", "b", "c"}}},
			want: Verified{UserID: 7, Projects: []string{"a"}},
		},
		{
			name: "earlier expiry wins",
			mint: Caveats{UserID: 7, Expires: t0.Add(time.Hour)},
			add:  []Caveats{{Expires: t0.Add(time.Minute)}},
			want: Verified{UserID: 7, Expires: t0.Add(time.Minute)},
		},
		{
			name:    "later expiry does not extend",
			mint:    Caveats{UserID: 7, Expires: t0.Add(time.Minute)},
			add:     []Caveats{{Expires: t0.Add(time.Hour)}},
			now:     t0.Add(2 * time.Minute),
			wantErr: ErrExpired,
		},
		{
			name: "later not-before wins",
			mint: Caveats{UserID: 7, NotBefore: t0.Add(-time.Hour)},
			add:  []Caveats{{NotBefore: t0.Add(-time.Minute)}},
			want: Verified{UserID: 7, NotBefore: t0.Add(-time.Minute)},
		},
		{
			name:    "earlier not-before does not extend",
			mint:    Caveats{UserID: 7, NotBefore: t0.Add(time.Minute)},
			add:     []Caveats{{NotBefore: t0.Add(-time.Hour)}},
			wantErr: ErrNotYetValid,
		},
		{
			name: "same user adds nothing",
			mint: Caveats{UserID: 7},
			add:  []Caveats{{UserID: 7}},
			want: Verified{UserID: 7},
		},
		{
			name: "chained attenuations",
			mint: Caveats{UserID: 7},
			add: []Caveats{
				{Projects: []string{"a", "b", "c"}},
				{Expires: t0.Add(time.Hour)},
				{Projects: []string{"b", "c", "d"}},
				{NotBefore: t0.Add(-time.Second), Projects: []string{"c"}},
			},
			want: Verified{UserID: 7, Projects: []string{"c"}, NotBefore: t0.Add(-time.Second), Expires: t0.Add(time.Hour)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, id := mint(t, m, tt.mint)
			for _, c := range tt.add {
				tok = attenuate(t, tok, c)
			}
			if got, err := ParseID(tok); err != nil || got != id {
				t.Errorf("ParseID after Attenuate = %q, %v; want %q", got, err, id)
			}
			now := tt.now
			if now.IsZero() {
				now = t0
			}
			got, err := m.Verify(tok, now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify error = %v; want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			tt.want.ID = id
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Verify mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAttenuateRefuses(t *testing.T) {
	m := newTestMinter(t, testKey)
	tok, _ := mint(t, m, Caveats{UserID: 7})
	full := tok
	for range MaxCaveats - 1 {
		full = attenuate(t, full, Caveats{Expires: t0.Add(time.Hour)})
	}
	tests := []struct {
		name  string
		token string
		c     Caveats
		want  error
	}{
		{"garbage", "wharf-!", Caveats{Projects: []string{"a"}}, ErrMalformed},
		{"other user", tok, Caveats{UserID: 8}, ErrInvalidCaveats},
		{"negative user", tok, Caveats{UserID: -7}, ErrInvalidCaveats},
		{"bad project", tok, Caveats{Projects: []string{"A"}}, ErrInvalidCaveats},
		{"empty window", tok, Caveats{NotBefore: t0, Expires: t0}, ErrInvalidCaveats},
		{"caveat limit", full, Caveats{Expires: t0}, ErrInvalidCaveats},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Attenuate(tt.token, tt.c)
			if !errors.Is(err, tt.want) {
				t.Errorf("Attenuate = %q, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestAttenuateNothing(t *testing.T) {
	m := newTestMinter(t, testKey)
	tok, _ := mint(t, m, Caveats{UserID: 7})
	if got := attenuate(t, tok, Caveats{}); got != tok {
		t.Errorf("Attenuate with no caveats changed the token")
	}
}

// TestAttenuateCannotBeUndone checks the macaroon property the design rests
// on: from an attenuated token, dropping the added caveat gives a token with
// the wrong signature, since the parent's signature is not in the child.
func TestAttenuateCannotBeUndone(t *testing.T) {
	m := newTestMinter(t, testKey)
	parent, _ := mint(t, m, Caveats{UserID: 7})
	child := attenuate(t, parent, Caveats{Projects: []string{"a"}})
	ct, err := decode(child)
	if err != nil {
		t.Fatal(err)
	}
	ct.caveats = ct.caveats[:len(ct.caveats)-1]
	stripped, err := ct.encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(stripped, t0); !errors.Is(err, ErrBadSignature) {
		t.Errorf("child without its added caveat: %v; want ErrBadSignature", err)
	}
}

func TestValidityBoundaries(t *testing.T) {
	m := newTestMinter(t, testKey)
	nbf, exp := t0, t0.Add(time.Hour)
	tok, _ := mint(t, m, Caveats{UserID: 7, NotBefore: nbf, Expires: exp})
	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{"long before", nbf.Add(-24 * time.Hour), ErrNotYetValid},
		{"1ns before not-before", nbf.Add(-time.Nanosecond), ErrNotYetValid},
		{"at not-before", nbf, nil},
		{"inside", nbf.Add(30 * time.Minute), nil},
		{"1ns before expiry", exp.Add(-time.Nanosecond), nil},
		{"at expiry", exp, ErrExpired},
		{"after expiry", exp.Add(time.Nanosecond), ErrExpired},
		{"other time zone, at expiry", exp.In(time.FixedZone("X", 5*3600)), ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Verify(tok, tt.now)
			if !errors.Is(err, tt.want) {
				t.Errorf("Verify at %v = %v; want %v", tt.now, err, tt.want)
			}
		})
	}
}

func TestParseID(t *testing.T) {
	m := newTestMinter(t, testKey)
	tok, id := mint(t, m, Caveats{UserID: 7})
	// ParseID does not verify: a token from another server has an id too.
	other, otherID := mint(t, newTestMinter(t, otherKey), Caveats{UserID: 7})
	tests := []struct {
		name    string
		token   string
		want    string
		wantErr error
	}{
		{"ours", tok, id, nil},
		{"another server's", other, otherID, nil},
		{"garbage", "wharf-xyz", "", ErrMalformed},
		{"no prefix", strings.TrimPrefix(tok, Prefix), "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseID(tt.token)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("ParseID = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	m := newTestMinter(t, testKey)
	expired, expiredID := mint(t, m, Caveats{UserID: 7, Expires: t0.Add(-time.Hour)})
	narrowed := attenuate(t, expired, Caveats{Projects: []string{"a"}})
	other, _ := mint(t, newTestMinter(t, otherKey), Caveats{UserID: 7})
	raw, err := b64.DecodeString(strings.TrimPrefix(expired, Prefix))
	if err != nil {
		t.Fatal(err)
	}
	// What someone who knows only the id can build.
	forged := Prefix + b64.EncodeToString(append(raw[:1+idLen:1+idLen], make([]byte, sigLen)...))
	tests := []struct {
		name    string
		token   string
		want    string
		wantErr error
	}{
		{"expired but authentic", expired, expiredID, nil},
		{"attenuated", narrowed, expiredID, nil},
		{"authentic with caveats Verify refuses", craft(m, `{"mystery":1}`), "30313233343536373839616263646566", nil},
		{"id without signature", forged, "", ErrBadSignature},
		{"another server's", other, "", ErrBadSignature},
		{"garbage", "wharf-!!", "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.Authenticate(tt.token)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("Authenticate = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestAllowsProject(t *testing.T) {
	tests := []struct {
		name    string
		v       Verified
		project string
		want    bool
	}{
		{"all projects", Verified{ID: "x", UserID: 1}, "anything", true},
		{"listed", Verified{ID: "x", UserID: 1, Projects: []string{"a", "b"}}, "b", true},
		{"not listed", Verified{ID: "x", UserID: 1, Projects: []string{"a", "b"}}, "c", false},
		{"empty list", Verified{ID: "x", UserID: 1, Projects: []string{}}, "a", false},
		{"not normalised by the caller", Verified{ID: "x", UserID: 1, Projects: []string{"a-b"}}, "A_B", false},
		{"zero value", Verified{}, "a", false},
		{"no user", Verified{ID: "x"}, "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.AllowsProject(tt.project); got != tt.want {
				t.Errorf("AllowsProject(%q) = %v; want %v", tt.project, got, tt.want)
			}
		})
	}
}

// TestScope is K2 (docs/security.md) at this layer: a token for project A does not
// allow project B.
func TestScope(t *testing.T) {
	m := newTestMinter(t, testKey)
	tok, _ := mint(t, m, Caveats{UserID: 7, Projects: []string{"project-a"}})
	v, err := m.Verify(tok, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !v.AllowsProject("project-a") || v.AllowsProject("project-b") {
		t.Errorf("token for project-a: allows a = %v, b = %v", v.AllowsProject("project-a"), v.AllowsProject("project-b"))
	}
}

func TestErrorsDoNotEchoToken(t *testing.T) {
	m := newTestMinter(t, testKey)
	tok, _ := mint(t, m, Caveats{UserID: 7, Expires: t0})
	other, _ := mint(t, newTestMinter(t, otherKey), Caveats{UserID: 7})
	for _, s := range []string{tok, other, tok + "x", tok[:len(tok)-1]} {
		_, err := m.Verify(s, t0)
		if err == nil {
			t.Fatalf("Verify(%q) succeeded", s)
		}
		if strings.Contains(err.Error(), strings.TrimPrefix(s, Prefix)[:20]) {
			t.Errorf("error %q contains the token", err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	m := newTestMinter(b, testKey)
	tok, _ := mint(b, m, Caveats{UserID: 7, Projects: []string{"requests", "urllib3"}, Expires: t0.Add(time.Hour)})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(tok, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMint(b *testing.B) {
	m := newTestMinter(b, testKey)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.Mint(Caveats{UserID: 7, Expires: t0.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
}
