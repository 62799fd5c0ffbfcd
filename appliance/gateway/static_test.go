package gateway_test

import (
	"debug/elf"
	"os"
	"path/filepath"
	"testing"
)

// TestBuiltBinariesAreStatic: what `make build` puts in bin/ (APIMGW_BIN in
// make test) is statically linked, as the README says: no ELF interpreter
// (dynamic loader) and no shared libraries.
func TestBuiltBinariesAreStatic(t *testing.T) {
	dir := os.Getenv("APIMGW_BIN")
	if dir == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("APIMGW_BIN is not set: make test-go sets it to the binaries make build made")
		}
		t.Skip("APIMGW_BIN is not set (make test-go sets it): checks the binaries of make build")
	}
	for _, b := range []string{"apimgw", "apimcp", "apimctl"} {
		f, err := elf.Open(filepath.Join(dir, b))
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked (it has an ELF interpreter): build with CGO_ENABLED=0", b)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("%s needs shared libraries %v", b, libs)
		}
		f.Close()
	}
}
