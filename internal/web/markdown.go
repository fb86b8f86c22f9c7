package web

import (
	"bytes"
	"html/template"
	"mime"
	"strings"
	"sync"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer/html"
)

// describer renders project descriptions. Markdown may hold raw HTML, as on PyPI, so goldmark passes it through and
// bluemonday then keeps only what user-generated content may contain: no scripts, no event handlers, no
// javascript: links, no styles or forms. Renderings are cached by release, whose metadata never changes.
type describer struct {
	md     goldmark.Markdown
	policy *bluemonday.Policy

	mu    sync.Mutex
	cache map[int64]description
	order []int64 // insertion order, for eviction
}

// description is a rendered description: HTML for Markdown, or text to show preformatted.
type description struct {
	HTML template.HTML
	Text string
}

const (
	// maxRendered is the largest description rendered as Markdown; larger ones show as text, so that a crafted
	// README cannot make each page view expensive.
	maxRendered = 1 << 20
	// describerCacheSize bounds the cache in entries; with maxRendered it bounds it in bytes too.
	describerCacheSize = 128
)

func newDescriber() *describer {
	p := bluemonday.UGCPolicy()
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AllowURLSchemes("http", "https", "mailto")
	return &describer{
		md: goldmark.New(
			goldmark.WithExtensions(extension.GFM),
			goldmark.WithRendererOptions(html.WithUnsafe()),
		),
		policy: p,
		cache:  map[int64]description{},
	}
}

// render returns the description of release id. Only Markdown is rendered; reStructuredText (the default when
// no content type is given, as on PyPI) and plain text are shown as they are, escaped.
func (d *describer) render(id int64, text, contentType string) description {
	if strings.TrimSpace(text) == "" {
		return description{}
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt != "text/markdown" || len(text) > maxRendered {
		return description{Text: text}
	}
	d.mu.Lock()
	if c, ok := d.cache[id]; ok {
		d.mu.Unlock()
		return c
	}
	d.mu.Unlock()
	var buf bytes.Buffer
	if err := d.md.Convert([]byte(text), &buf); err != nil {
		return description{Text: text}
	}
	out := description{HTML: template.HTML(d.policy.SanitizeBytes(buf.Bytes()))}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.cache[id]; !ok {
		if len(d.order) >= describerCacheSize {
			delete(d.cache, d.order[0])
			d.order = d.order[1:]
		}
		d.cache[id] = out
		d.order = append(d.order, id)
	}
	return out
}
