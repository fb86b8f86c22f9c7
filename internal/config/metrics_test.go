package config

import (
	"strings"
	"testing"
)

// TestMetricsSetting: /metrics is on by default; WHARF_METRICS or --metrics turns it off, and a value that is not
// a boolean stops the start with the variable's name.
func TestMetricsSetting(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want bool
	}{
		{"default", nil, nil, true},
		{"environment", nil, map[string]string{"WHARF_METRICS": "false"}, false},
		{"flag over environment", []string{"--metrics=true"}, map[string]string{"WHARF_METRICS": "false"}, true},
		{"flag", []string{"--metrics=false"}, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, _, err := load(t, c.args, c.env)
			if err != nil || cfg.Metrics != c.want {
				t.Errorf("Metrics = %v, %v; want %v", cfg.Metrics, err, c.want)
			}
		})
	}
	if _, _, err := load(t, nil, map[string]string{"WHARF_METRICS": "maybe"}); err == nil || !strings.Contains(err.Error(), "WHARF_METRICS") {
		t.Errorf("WHARF_METRICS=maybe: %v, want an error naming the variable", err)
	}
}
