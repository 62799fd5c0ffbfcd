package policy

import (
	"strconv"
	"strings"
)

type kind uint8

const (
	kNull kind = iota
	kBool
	kInt
	kString
	kStrings // string[] (the result of Split)
	kDouble  // double; the bits are in i
	kObject  // a .NET object of the expression library (JObject, DateTime, byte[]…); in o
)

var kindNames = [...]string{"null", "bool", "int", "string", "string[]", "double", "object"}

func (k kind) String() string { return kindNames[k] }

// Value is a run-time value of an expression or a context variable. It is a
// small struct, not an interface, so evaluating does not allocate.
type Value struct {
	k kind
	b bool
	i int64
	s string
	a []string
	o object
}

// Value constructors for callers that preset context variables.
func StringValue(s string) Value { return Value{k: kString, s: s} }
func IntValue(i int64) Value     { return Value{k: kInt, i: i} }
func BoolValue(b bool) Value     { return Value{k: kBool, b: b} }

// IsNull reports whether v is null.
func (v Value) IsNull() bool { return v.k == kNull }

// String renders v as C#'s ToString would ("True"/"False" for booleans, ""
// for null, "System.String[]" for arrays).
func (v Value) String() string {
	switch v.k {
	case kBool:
		if v.b {
			return "True"
		}
		return "False"
	case kInt:
		return strconv.FormatInt(v.i, 10)
	case kString:
		return v.s
	case kStrings:
		return "System.String[]"
	case kDouble, kObject:
		return valueString(v)
	}
	return ""
}

// Int returns v as an integer and whether it is one.
func (v Value) Int() (int64, bool) { return v.i, v.k == kInt }

// Bool returns v as a boolean and whether it is one.
func (v Value) Bool() (bool, bool) { return v.b, v.k == kBool }

func (v Value) equal(w Value) bool {
	if v.k != w.k {
		return false
	}
	switch v.k {
	case kNull:
		return true
	case kBool:
		return v.b == w.b
	case kInt:
		return v.i == w.i
	case kString:
		return v.s == w.s
	case kStrings:
		return len(v.a) == len(w.a) && (len(v.a) == 0 || &v.a[0] == &w.a[0])
	case kDouble, kObject:
		return valueEqual(v, w)
	}
	return false
}

// literalValue turns an attribute literal into the value set-variable stores:
// APIM stores literals as strings.
func literalValue(s string) Value { return Value{k: kString, s: s} }

func trimmed(s string) string { return strings.TrimSpace(s) }
