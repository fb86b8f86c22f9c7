package store_test

import (
	"context"
	"strings"
	"testing"

	"wharf/internal/store/storetest"
)

// TestDocumentQueriesReadNoProjectRow checks, on SQLite, that a JSON API document's query finds everything it reads
// of the project in projects_document_stamp: a document not served yet is then one page of that index and one of
// the documents' tables, not also a page of the projects' table. A column the queries read and the index lacks
// makes SQLite read the row again ("USING INDEX" rather than "USING COVERING INDEX").
func TestDocumentQueriesReadNoProjectRow(t *testing.T) {
	t.Parallel()
	db := storetest.OpenSQLite(t)
	plans, err := db.DocumentPlans(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 6 {
		t.Fatalf("%d plans, want the 6 document queries'", len(plans))
	}
	for name, plan := range plans {
		if !strings.Contains(plan, "SEARCH p USING COVERING INDEX projects_document_stamp (normalized_name=?)") {
			t.Errorf("the %s query reads the project's row:\n%s", name, plan)
		}
		if strings.Contains(plan, "SCAN ") {
			t.Errorf("the %s query reads a table whole:\n%s", name, plan)
		}
	}
}
