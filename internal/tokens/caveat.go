package tokens

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

type caveatKind int

const (
	kindUser caveatKind = iota + 1
	kindProjects
	kindNotBefore
	kindExpires
	kindPublisher
)

// The JSON shapes of the caveats. Encoding through these structs is what
// defines the canonical form that parseCaveat insists on.
type (
	userCaveat struct {
		User int64 `json:"user"`
	}
	projectsCaveat struct {
		Projects []string `json:"projects"`
	}
	notBeforeCaveat struct {
		NotBefore int64 `json:"nbf"`
	}
	expiresCaveat struct {
		Expires int64 `json:"exp"`
	}
	publisherCaveat struct {
		Publisher bool `json:"publisher"`
	}
)

// caveat is one parsed caveat: n is the user id or the Unix time.
type caveat struct {
	kind     caveatKind
	n        int64
	projects []string
}

// encode returns the canonical caveats for c, in a fixed order. Times are
// rounded towards the narrower window, so rounding never extends a token.
func (c Caveats) encode() ([][]byte, error) {
	var out [][]byte
	add := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encoding caveat: %w", err)
		}
		out = append(out, b)
		return nil
	}
	if c.UserID < 0 {
		return nil, fmt.Errorf("user id %d: %w", c.UserID, ErrInvalidCaveats)
	}
	if c.UserID > 0 {
		if err := add(userCaveat{c.UserID}); err != nil {
			return nil, err
		}
	}
	if c.Publisher {
		if err := add(publisherCaveat{true}); err != nil {
			return nil, err
		}
	}
	if len(c.Projects) > 0 {
		ps := slices.Clone(c.Projects)
		slices.Sort(ps)
		ps = slices.Compact(ps)
		for _, p := range ps {
			if !validProject(p) {
				return nil, fmt.Errorf("project name %q is not normalised: %w", p, ErrInvalidCaveats)
			}
		}
		if err := add(projectsCaveat{ps}); err != nil {
			return nil, err
		}
	}
	var nbf, exp int64
	if !c.NotBefore.IsZero() {
		nbf = c.NotBefore.Unix()
		if c.NotBefore.Nanosecond() > 0 {
			nbf++
		}
		if nbf < 0 {
			return nil, fmt.Errorf("not-before before 1970: %w", ErrInvalidCaveats)
		}
		if err := add(notBeforeCaveat{nbf}); err != nil {
			return nil, err
		}
	}
	if !c.Expires.IsZero() {
		exp = c.Expires.Unix()
		if exp < 0 {
			return nil, fmt.Errorf("expiry before 1970: %w", ErrInvalidCaveats)
		}
		if !c.NotBefore.IsZero() && exp <= nbf {
			return nil, fmt.Errorf("expiry is not after not-before: %w", ErrInvalidCaveats)
		}
		if err := add(expiresCaveat{exp}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseCaveat reads one caveat and fails closed on anything that is not
// exactly what encode would have produced: an unknown kind, a second member,
// a duplicate key, spaces, null, an unsorted or unnormalised project list.
func parseCaveat(b []byte) (caveat, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || len(m) != 1 {
		return caveat{}, fmt.Errorf("caveat is not a one-member JSON object: %w", ErrMalformed)
	}
	var (
		c     caveat
		canon any
		err   error
	)
	for k, v := range m {
		switch k {
		case "user":
			c.kind = kindUser
			err = json.Unmarshal(v, &c.n)
			if c.n <= 0 {
				err = fmt.Errorf("user id %d", c.n)
			}
			canon = userCaveat{c.n}
		case "projects":
			c.kind = kindProjects
			err = json.Unmarshal(v, &c.projects)
			if c.projects == nil {
				err = fmt.Errorf("projects is not a list")
			}
			for i, p := range c.projects {
				if !validProject(p) || i > 0 && c.projects[i-1] >= p {
					err = fmt.Errorf("projects not normalised, sorted and unique")
				}
			}
			canon = projectsCaveat{c.projects}
		case "publisher":
			c.kind = kindPublisher
			var on bool
			err = json.Unmarshal(v, &on)
			if !on {
				err = fmt.Errorf("publisher caveat is not true")
			}
			canon = publisherCaveat{true}
		case "nbf":
			c.kind = kindNotBefore
			err = json.Unmarshal(v, &c.n)
			canon = notBeforeCaveat{c.n}
		case "exp":
			c.kind = kindExpires
			err = json.Unmarshal(v, &c.n)
			canon = expiresCaveat{c.n}
		default:
			return caveat{}, fmt.Errorf("unknown caveat kind: %w", ErrMalformed)
		}
	}
	if err != nil {
		return caveat{}, fmt.Errorf("bad caveat: %w", ErrMalformed)
	}
	if c.n < 0 {
		return caveat{}, fmt.Errorf("negative value in caveat: %w", ErrMalformed)
	}
	want, err := json.Marshal(canon)
	if err != nil || !bytes.Equal(b, want) {
		return caveat{}, fmt.Errorf("caveat not in canonical form: %w", ErrMalformed)
	}
	return c, nil
}

// evaluate combines the caveats of an authenticated token. Time and project
// checks are left to the caller; an empty project intersection is returned
// as an empty, non-nil list.
func evaluate(t rawToken) (Verified, error) {
	v := Verified{ID: hex.EncodeToString(t.id[:])}
	var nbf, exp int64 = -1, -1
	for _, raw := range t.caveats {
		c, err := parseCaveat(raw)
		if err != nil {
			return Verified{}, err
		}
		switch c.kind {
		case kindUser:
			if v.UserID != 0 && v.UserID != c.n {
				return Verified{}, fmt.Errorf("user caveats disagree: %w", ErrMalformed)
			}
			v.UserID = c.n
		case kindPublisher:
			v.Publisher = true
		case kindProjects:
			if v.Projects == nil {
				v.Projects = c.projects
			} else {
				v.Projects = intersect(v.Projects, c.projects)
			}
		case kindNotBefore:
			nbf = max(nbf, c.n)
		case kindExpires:
			if exp < 0 || c.n < exp {
				exp = c.n
			}
		}
	}
	if (v.UserID == 0) == !v.Publisher {
		return Verified{}, fmt.Errorf("not exactly one of a user and a publisher caveat: %w", ErrMalformed)
	}
	if nbf >= 0 {
		v.NotBefore = time.Unix(nbf, 0).UTC()
	}
	if exp >= 0 {
		v.Expires = time.Unix(exp, 0).UTC()
	}
	return v, nil
}

// intersect returns the common elements of two sorted lists, never nil.
func intersect(a, b []string) []string {
	out := []string{}
	for len(a) > 0 && len(b) > 0 {
		switch {
		case a[0] < b[0]:
			a = a[1:]
		case a[0] > b[0]:
			b = b[1:]
		default:
			out = append(out, a[0])
			a, b = a[1:], b[1:]
		}
	}
	return out
}

// validProject reports whether name is a PEP 503 normalised project name:
// lowercase ASCII letters and digits, separated by single hyphens. Checking
// here rather than trusting callers means a name that could never match
// AllowsProject is refused when the token is made, not silently useless.
func validProject(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '-':
			if i == 0 || i == len(name)-1 || name[i-1] == '-' {
				return false
			}
		default:
			return false
		}
	}
	return true
}
