// Package apimgw is the module root of the apimgw gateway appliance. It holds no
// code, only the architecture tests that check the import directions written in
// docs/architecture.md and that every package says what it is for.
package apimgw
