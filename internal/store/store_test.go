package store_test

import (
	"testing"

	"wharf/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) { storetest.Run(t, e.Open) })
		t.Run(e.Name+"/accounts", func(t *testing.T) { storetest.RunAccounts(t, e.Open) })
		t.Run(e.Name+"/manage", func(t *testing.T) { storetest.RunManage(t, e.Open) })
		t.Run(e.Name+"/mfa", func(t *testing.T) { storetest.RunMFA(t, e.Open) })
		t.Run(e.Name+"/webauthn", func(t *testing.T) { storetest.RunWebAuthn(t, e.Open) })
		t.Run(e.Name+"/factors", func(t *testing.T) { storetest.RunFactors(t, e.Open) })
		t.Run(e.Name+"/download-imports", func(t *testing.T) { storetest.RunDownloads(t, e.Open) })
		t.Run(e.Name+"/download-totals", func(t *testing.T) { storetest.RunDownloadTotals(t, e.Open) })
		t.Run(e.Name+"/promo", func(t *testing.T) { storetest.RunPromo(t, e.Open) })
		t.Run(e.Name+"/adoption", func(t *testing.T) { storetest.RunAdoption(t, e.Open) })
		t.Run(e.Name+"/reminders", func(t *testing.T) { storetest.RunReminders(t, e.Open) })
		t.Run(e.Name+"/disclosure", func(t *testing.T) { storetest.RunDisclosure(t, e.Open) })
		t.Run(e.Name+"/uploads", func(t *testing.T) { storetest.RunUploads(t, e.Open) })
		t.Run(e.Name+"/admin", func(t *testing.T) { storetest.RunAdmin(t, e.Open) })
		t.Run(e.Name+"/feeds", func(t *testing.T) { storetest.RunFeeds(t, e.Open) })
		t.Run(e.Name+"/search", func(t *testing.T) { storetest.RunSearch(t, e.Open) })
		t.Run(e.Name+"/pages", func(t *testing.T) { storetest.RunPages(t, e.Open) })
	}
}
