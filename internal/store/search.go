package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SearchQuery is what a search asks for: projects with every word of Text (in their name, summary or keywords) and
// every one of Classifiers, the page of them from Offset on.
type SearchQuery struct {
	Text string
	// Classifiers are exact classifier strings, as the latest release lists them.
	Classifiers []string
	Offset      int
	Limit       int
	// Facets is how many of the classifiers of the listed projects to return besides those filtered by.
	Facets int
}

// SearchResult is a page of a search.
type SearchResult struct {
	Projects []ProjectSummary
	Total    int // projects found, on every page
	// Facets are the classifiers of Projects other than the query's, the most common first, each with how many of
	// Projects have it.
	Facets []ClassifierCount
}

// ClassifierCount is a classifier and how many projects of a list have it.
type ClassifierCount struct {
	Classifier string
	Projects   int
}

// maxSearchWords bounds the words of a query that count: each is one more term for the index to intersect.
const maxSearchWords = 8

// searchWords splits text into the words search matches: runs of letters and digits, lower-cased. Both indexes split
// documents so (FTS5's unicode61 tokenizer; PostgreSQL's parser, given text whose other characters became spaces).
// Whatever else a query holds, quotes, operators, wildcards, column filters, only separates words, so nothing
// typed ever reaches an engine's query syntax.
func searchWords(text string) []string {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.Is(unicode.Co, r)
	})
	return words[:min(len(words), maxSearchWords)]
}

// nameTerm is the words as a normalised name would hold them (PEP 503: "Flask_Login", "flask.login" and "flask
// login" are all flask-login), and whether they can be part of one at all.
func nameTerm(words []string) (string, bool) {
	term := strings.Join(words, "-")
	for _, c := range []byte(term) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return "", false
		}
	}
	return term, true
}

// SearchProjects finds projects by the words of their name, summary and keywords, filtered by classifiers. The
// order: the project whose name the words make exactly, then the names that start with them, then the names that
// have every word, then the rest by relevance (the name's words weigh most, then the keywords, then the summary);
// ties by name. Names compare normalised, so that a query spelt "Flask_Login" finds flask-login. A query of
// classifiers alone lists their projects by name. No word and no classifier finds nothing.
func (db *DB) SearchProjects(ctx context.Context, q SearchQuery) (SearchResult, error) {
	st, ok := db.searchSQL(q)
	if !ok || slices.ContainsFunc(q.Classifiers, notText) {
		// A classifier no metadata can hold matches nothing; PostgreSQL would refuse it as a parameter.
		return SearchResult{}, nil
	}
	var res SearchResult
	rows, err := db.sql.QueryContext(ctx, st.page, st.args...)
	if err != nil {
		return SearchResult{}, fmt.Errorf("search projects: %w", err)
	}
	if res.Projects, err = scanSummaries(rows, func(*ProjectSummary) []any { return []any{&res.Total} }); err != nil {
		return SearchResult{}, fmt.Errorf("search projects: %w", err)
	}
	if len(res.Projects) == 0 && q.Offset > 0 {
		// Past the last page: no row carried the total.
		if err := db.sql.QueryRowContext(ctx, st.count, st.countArgs()...).Scan(&res.Total); err != nil {
			return SearchResult{}, fmt.Errorf("search projects: %w", err)
		}
	}
	if res.Facets, err = db.facets(ctx, res.Projects, q.Classifiers, q.Facets); err != nil {
		return SearchResult{}, fmt.Errorf("search projects: %w", err)
	}
	return res, nil
}

// searchStatement is the SQL of a search: the page, each of its rows with the total, and the total alone.
type searchStatement struct {
	page, count string
	args        []any // the page's; the count takes all but the last two, the page's limit and offset
}

func (st searchStatement) countArgs() []any { return st.args[:len(st.args)-2] }

// searchSQL writes the statements of a search; false when the query has neither a word nor a classifier.
func (db *DB) searchSQL(q SearchQuery) (searchStatement, bool) {
	words := searchWords(q.Text)
	if len(words) == 0 && len(q.Classifiers) == 0 {
		return searchStatement{}, false
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	// hits are the candidates with a score, lower first; tier orders them before the score does.
	var hits, tier string
	filters := q.Classifiers
	if len(words) > 0 {
		hits, tier = db.textHits(words, arg), "3"
		if term, ok := nameTerm(words); ok {
			// The name's range is an index range, on both engines (names hold only [a-z0-9-]).
			eq, end := arg(term), arg(term[:len(term)-1]+string(term[len(term)-1]+1))
			hits += ` UNION ALL SELECT id, 0 FROM projects WHERE normalized_name >= ` + eq + ` AND normalized_name < ` + end
			var all []string
			for _, w := range words {
				all = append(all, `'-' || p.normalized_name || '-' LIKE `+arg("%-"+w+"-%"))
			}
			tier = `CASE WHEN p.normalized_name = ` + eq + ` THEN 0
				WHEN p.normalized_name >= ` + eq + ` AND p.normalized_name < ` + end + ` THEN 1
				WHEN ` + strings.Join(all, " AND ") + ` THEN 2 ELSE 3 END`
		}
	} else {
		hits, tier = `SELECT project_id, 0 FROM project_classifiers WHERE classifier = `+arg(q.Classifiers[0]), "3"
		filters = filters[1:]
	}
	where := ""
	for _, c := range filters {
		where += ` AND EXISTS (SELECT 1 FROM project_classifiers c WHERE c.classifier = ` + arg(c) + ` AND c.project_id = p.id)`
	}
	// hits is materialised: SQLite computes bm25 only in the query of its MATCH, not once it is flattened into
	// the grouping. The join with projects is left to the planner: PostgreSQL hashes every project once the hits
	// are many thousands, which bounds the cost of a broad query by one read of the table.
	matched := `WITH hits (id, score) AS MATERIALIZED (` + hits + `),
		matched AS (
			SELECT p.id, p.normalized_name, ` + tier + ` AS tier, min(h.score) AS score
			FROM hits h JOIN projects p ON p.id = h.id WHERE TRUE` + where + `
			GROUP BY p.id, p.normalized_name),
		ranked AS (
			SELECT id, normalized_name, tier, CASE WHEN tier = 3 THEN score ELSE 0 END AS relevance FROM matched)`
	// The page is chosen from ids and ranks alone; only its projects are read with their latest release.
	page := matched + ` ` + summarySelect + `, pg.total
		FROM (SELECT id, tier, relevance, normalized_name, count(*) OVER () AS total FROM ranked
			ORDER BY tier, relevance, normalized_name LIMIT ` + arg(q.Limit) + ` OFFSET ` + arg(q.Offset) + `) pg
		JOIN projects p ON p.id = pg.id
		LEFT JOIN releases r ON r.id = (SELECT max(id) FROM releases WHERE project_id = p.id)
		ORDER BY pg.tier, pg.relevance, pg.normalized_name`
	return searchStatement{page: page, count: matched + ` SELECT count(*) FROM ranked`, args: args}, true
}

// notText reports a string that is not UTF-8 text: invalid bytes, or NUL.
func notText(s string) bool { return !utf8.ValidString(s) || strings.ContainsRune(s, 0) }

// textHits selects the projects whose document has every word, with their relevance as a score, lower first.
func (db *DB) textHits(words []string, arg func(any) string) string {
	if db.engine == Postgres {
		// plainto_tsquery reads its text as words only, and these words are letters and digits.
		q := `plainto_tsquery('simple', ` + arg(strings.Join(words, " ")) + `)`
		return `SELECT project_id, -ts_rank(document, ` + q + `) FROM project_search WHERE document @@ ` + q
	}
	// Every word a quoted string: FTS5 reads no operator, column filter or prefix inside one.
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = `"` + strings.ReplaceAll(w, `"`, `""`) + `"`
	}
	// bm25's weights of name, summary and keywords, as PostgreSQL's ts_rank weighs A, C and B (1, 0.2, 0.4).
	return `SELECT rowid, bm25(project_search, 5.0, 1.0, 2.0) FROM project_search WHERE project_search MATCH ` +
		arg(strings.Join(quoted, " "))
}

// facets counts the classifiers of the listed projects, but those of the query, and keeps the n most common.
func (db *DB) facets(ctx context.Context, listed []ProjectSummary, filters []string, n int) ([]ClassifierCount, error) {
	if n <= 0 || len(listed) == 0 {
		return nil, nil
	}
	var args []any
	marks := func(n int) string {
		m := make([]string, n)
		for i := range m {
			m[i] = "$" + strconv.Itoa(len(args)+i+1)
		}
		return strings.Join(m, ", ")
	}
	query := `SELECT classifier, count(*) FROM project_classifiers WHERE project_id IN (` + marks(len(listed)) + `)`
	for _, p := range listed {
		args = append(args, p.ID)
	}
	if len(filters) > 0 {
		query += ` AND classifier NOT IN (` + marks(len(filters)) + `)`
		for _, c := range filters {
			args = append(args, c)
		}
	}
	query += ` GROUP BY classifier ORDER BY count(*) DESC, classifier LIMIT $` + strconv.Itoa(len(args)+1)
	args = append(args, n)
	rows, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ClassifierCount
	for rows.Next() {
		var c ClassifierCount
		if err := rows.Scan(&c.Classifier, &c.Projects); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// searchTarget is which projects refreshSearch rewrites, given an id.
type searchTarget string

const (
	searchProject searchTarget = "= $1" // the project of the id
	searchAfter   searchTarget = "> $1" // every project with a higher id: those a seed just created
)

// searchStatements rewrite the search rows of projects from their latest releases, as migration 0021 writes them;
// "{ids}" is where the target goes. A project that no longer exists ends up with no rows.
var searchStatements = map[Engine][]string{
	SQLite: {
		`DELETE FROM project_search WHERE rowid {ids}`,
		`DELETE FROM project_classifiers WHERE project_id {ids}`,
		`INSERT INTO project_search (rowid, name, summary, keywords)
		SELECT p.id, replace(p.normalized_name, '-', ' '),
			CASE WHEN json_valid(r.metadata) THEN COALESCE(json_extract(r.metadata, '$.summary'), '') ELSE '' END,
			CASE WHEN json_valid(r.metadata) THEN COALESCE(json_extract(r.metadata, '$.keywords'), '') ELSE '' END
		FROM projects p
		LEFT JOIN releases r ON r.id = (SELECT max(id) FROM releases WHERE project_id = p.id)
		WHERE p.id {ids}`,
		`INSERT INTO project_classifiers (classifier, project_id)
		SELECT DISTINCT c.value, p.id
		FROM projects p
		JOIN releases r ON r.id = (SELECT max(id) FROM releases WHERE project_id = p.id),
		json_each(CASE WHEN NOT json_valid(r.metadata) THEN '[]'
		               WHEN json_type(r.metadata, '$.classifiers') = 'array' THEN json_extract(r.metadata, '$.classifiers')
		               ELSE '[]' END) c
		WHERE c.type = 'text' AND p.id {ids}`,
	},
	Postgres: {
		`DELETE FROM project_search WHERE project_id {ids}`,
		`DELETE FROM project_classifiers WHERE project_id {ids}`,
		`INSERT INTO project_search (project_id, document)
		SELECT p.id, search_document(p.normalized_name,
			(SELECT metadata FROM releases WHERE project_id = p.id ORDER BY id DESC LIMIT 1))
		FROM projects p
		WHERE p.id {ids}`,
		`INSERT INTO project_classifiers (classifier, project_id)
		SELECT c, p.id
		FROM projects p
		CROSS JOIN LATERAL search_classifiers((SELECT metadata FROM releases WHERE project_id = p.id ORDER BY id DESC LIMIT 1)) c
		WHERE p.id {ids}`,
	},
}

// refreshSearch rewrites what search knows of the projects of target and id, in the transaction of the write that
// changed their latest release, created or deleted them: a search never lists a project as it no longer is.
func refreshSearch(ctx context.Context, tx *sql.Tx, e Engine, target searchTarget, id int64) error {
	for _, stmt := range searchStatements[e] {
		if _, err := tx.ExecContext(ctx, strings.ReplaceAll(stmt, "{ids}", string(target)), id); err != nil {
			return fmt.Errorf("search rows: %w", err)
		}
	}
	return nil
}
