package cli

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// Every key of every command's --json output is snake_case, but the keys
// that are names of the storage's data: columns (a row's values and
// group), the catalog's tables and arrangements, a commit's sources and
// sinks.
func TestJSONSnakeCase(t *testing.T) {
	dir := storage(t)
	var lines []string
	for _, args := range [][]string{{"inspect"}, {"dump", "--checkpoint"}, {"verify"}, {"compact"}, {"compact"}} {
		r := run(t, dir, append(append([]string{"--json"}, args...), dir)...)
		if r.code != ExitOK {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.err)
		}
		lines = append(lines, strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")...)
	}
	for _, line := range lines {
		var v any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		for _, k := range badKeys(v, "") {
			t.Errorf("key %s in %.200s", k, line)
		}
	}
}

var snakeKey = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// dataKeys are the objects whose keys are data: by the key holding them,
// and their parent's.
var dataKeys = map[string]bool{"values": true, "group": true, "tables": true, "arrangements": true,
	"commit.sources": true, "commit.acks": true, "commit.removed": true}

// badKeys returns the paths of the keys of v that are not snake_case.
func badKeys(v any, path string) []string {
	var bad []string
	switch v := v.(type) {
	case map[string]any:
		last := path[strings.LastIndexByte(path, '.')+1:]
		parent := strings.TrimSuffix(path, "."+last)
		parent = parent[strings.LastIndexByte(parent, '.')+1:]
		data := dataKeys[last] || dataKeys[parent+"."+last]
		for k, x := range v {
			if !data && !snakeKey.MatchString(k) {
				bad = append(bad, path+"."+k)
			}
			bad = append(bad, badKeys(x, path+"."+k)...)
		}
	case []any:
		for _, x := range v {
			bad = append(bad, badKeys(x, path)...)
		}
	}
	return bad
}
