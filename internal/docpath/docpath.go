// Package docpath reads and removes the value at a path of keys in a
// decoded JSON or TOML document: nested map[string]any, as encoding/json
// and the TOML decoder return them. It never changes the maps it is
// given.
package docpath

// Get returns the value at path in v, and whether there is one. An empty
// path is v itself.
func Get(v any, path []string) (any, bool) {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// Without returns v without the value at path: v itself when there is
// none, else a copy of the maps along path, the last without its key.
func Without(v any, path []string) any {
	m, ok := v.(map[string]any)
	if !ok || len(path) == 0 {
		return v
	}
	c, ok := m[path[0]]
	if !ok {
		return v
	}
	n := make(map[string]any, len(m))
	for k, x := range m {
		n[k] = x
	}
	if len(path) == 1 {
		delete(n, path[0])
	} else {
		n[path[0]] = Without(c, path[1:])
	}
	return n
}
