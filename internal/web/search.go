package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"wharf/internal/store"
)

// Bounds of a search: a page of results; the pages one can reach, past which a narrower search serves better than
// paging (and deep pages cost the database the most); the classifiers one search may require; the classifiers
// offered to narrow it.
const (
	searchPerPage    = 20
	maxSearchPage    = 500
	maxSearchFilters = 10
	searchFacets     = 12
)

// searchPage is what the search page shows.
type searchPage struct {
	Query string // as typed (and cut to maxQuery)
	// Searched says a query or a filter was given; without either the page only invites one.
	Searched    bool
	Results     []listed
	Total       int
	Page, Pages int
	First, Last int    // the positions of the page's first and last results, from 1
	Prev, Next  string // the neighbouring pages' addresses; "" at either end
	LastURL     string // the last page's address, for a page past it
	// Filters are the classifiers required, each with the address of the search without it; Facets the
	// classifiers of the listed projects, each with the address of the search narrowed by it.
	Filters, Facets []classifierLink
}

type classifierLink struct {
	Classifier string
	URL        string
	Projects   int // of the page's, that have it (Facets only)
}

// searchURL is the address of a search; page 1 goes without its number.
func searchURL(q string, classifiers []string, page int) string {
	v := url.Values{}
	if q != "" {
		v.Set("q", q)
	}
	if len(classifiers) > 0 {
		v["c"] = classifiers
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "/search/"
	}
	return "/search/?" + v.Encode()
}

// Search finds projects by the words of their names, summaries and keywords (q), narrowed by classifiers (c,
// repeated: all must hold), a page at a time (page).
func (s *Site) Search(w http.ResponseWriter, r *http.Request) error {
	params := r.URL.Query()
	q := params.Get("q")
	if len(q) > maxQuery {
		q = q[:maxQuery]
		for !utf8.ValidString(q) { // not half a character
			q = q[:len(q)-1]
		}
	}
	var filters []string
	for _, c := range params["c"] {
		if c = strings.TrimSpace(c); c != "" && !slices.Contains(filters, c) {
			filters = append(filters, c)
		}
	}
	sp := searchPage{Query: q, Searched: strings.TrimSpace(q) != "" || len(filters) > 0, Page: 1}
	for _, c := range filters {
		sp.Filters = append(sp.Filters, classifierLink{Classifier: c,
			URL: searchURL(q, slices.DeleteFunc(slices.Clone(filters), func(o string) bool { return o == c }), 1)})
	}
	refuse := func(msg string) error {
		sp.Searched = false
		return s.render(w, r, http.StatusBadRequest, "search", "Search", sp, msg)
	}
	if v := params.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 1:
			return refuse("The page must be a number from 1 to " + strconv.Itoa(maxSearchPage) + ".")
		case n > maxSearchPage:
			return refuse("Only the first " + strconv.Itoa(maxSearchPage) + " pages of results can be shown: add words or classifiers to narrow the search.")
		}
		sp.Page = n
	}
	if len(filters) > maxSearchFilters {
		return refuse("A search can require at most " + strconv.Itoa(maxSearchFilters) + " classifiers.")
	}
	if sp.Searched {
		offset := (sp.Page - 1) * searchPerPage
		res, err := s.db.SearchProjects(r.Context(), store.SearchQuery{Text: q, Classifiers: filters,
			Offset: offset, Limit: searchPerPage, Facets: searchFacets})
		if err != nil {
			return err
		}
		sp.Results, sp.Total = listProjects(res.Projects), res.Total
		sp.First, sp.Last = offset+1, offset+len(res.Projects)
		sp.Pages = min((res.Total+searchPerPage-1)/searchPerPage, maxSearchPage)
		if sp.Page > 1 {
			sp.Prev = searchURL(q, filters, min(sp.Page-1, sp.Pages))
		}
		if sp.Page < sp.Pages {
			sp.Next = searchURL(q, filters, sp.Page+1)
		}
		sp.LastURL = searchURL(q, filters, sp.Pages)
		for _, f := range res.Facets {
			sp.Facets = append(sp.Facets, classifierLink{Classifier: f.Classifier, URL: searchURL(q, append(slices.Clone(filters), f.Classifier), 1),
				Projects: f.Projects})
		}
	}
	return s.render(w, r, http.StatusOK, "search", "Search", sp, "")
}
