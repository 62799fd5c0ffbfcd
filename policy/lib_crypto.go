package policy

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"html"
	"math"
	mrand "math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf16"
)

// This file is the rest of the .NET library expressions use: byte[],
// Convert, Encoding, BitConverter, Array, Guid, Random, Math, the numeric
// Parse/TryParse family, Uri and URL/HTML encoding, hashing, HMAC and APIM's
// byte[].Encrypt/Decrypt extension methods.

type byteArray struct{ b []byte }

func (*byteArray) typeName() string { return "byte[]" }
func (*byteArray) String() string   { return "System.Byte[]" }

func bytesArg(name string, v Value) ([]byte, error) {
	if b, ok := v.o.(*byteArray); ok && v.k == kObject {
		return b.b, nil
	}
	if s, ok := v.o.(*seq); ok && v.k == kObject {
		out := make([]byte, len(s.items))
		for i, x := range s.items {
			out[i] = byte(x.i)
		}
		return out, nil
	}
	if v.k == kNull {
		return nil, &thrown{typ: "ArgumentNullException", msg: "Value cannot be null. (Parameter '" + name + "')"}
	}
	return nil, evalErr("%s: expected byte[], found %s", name, runtimeType(v))
}

func bytesValue(b []byte) Value { return objValue(&byteArray{b: b}) }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// guidValue is a Guid in its "D" form (lower-case, hyphenated).
type guidValue string

func (guidValue) typeName() string { return "Guid" }
func (g guidValue) String() string { return string(g) }
func (g guidValue) equal(o object) bool {
	h, ok := o.(guidValue)
	return ok && g == h
}

func (g guidValue) format(f string) string {
	s := string(g)
	switch f {
	case "N", "n":
		return strings.ReplaceAll(s, "-", "")
	case "B", "b":
		return "{" + s + "}"
	case "P", "p":
		return "(" + s + ")"
	}
	return s
}

func newGuid() guidValue {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return guidFromBytes(b[:])
}

// guidFromBytes uses .NET's byte order (the first three fields little-endian).
func guidFromBytes(b []byte) guidValue {
	o := []byte{b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]}
	o = append(o, b[8:16]...)
	h := hex.EncodeToString(o)
	return guidValue(h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:])
}

func parseGuid(s string) (guidValue, bool) {
	s = strings.Trim(strings.TrimSpace(s), "{}()")
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 {
		return "", false
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", false
	}
	h = strings.ToLower(h)
	return guidValue(h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]), true
}

func (g guidValue) bytes() []byte {
	h, _ := hex.DecodeString(strings.ReplaceAll(string(g), "-", ""))
	return []byte{h[3], h[2], h[1], h[0], h[5], h[4], h[7], h[6], h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]}
}

type randomValue struct{ r *mrand.Rand }

func (*randomValue) typeName() string { return "Random" }
func (*randomValue) String() string   { return "System.Random" }

// hasher is an HMAC or a hash algorithm (SHA256.Create(), new HMACSHA256(key)).
type hasher struct {
	name string
	key  []byte
	mac  bool
}

func (h *hasher) typeName() string {
	if h.mac {
		return "HMAC"
	}
	return "HashAlgorithm"
}
func (h *hasher) String() string { return "System.Security.Cryptography." + h.name }

func (h *hasher) new() hash.Hash {
	var f func() hash.Hash
	switch strings.TrimPrefix(strings.ToUpper(h.name), "HMAC") {
	case "SHA1":
		f = sha1.New
	case "SHA384":
		f = sha512.New384
	case "SHA512":
		f = sha512.New
	case "MD5":
		f = md5.New
	default:
		f = sha256.New
	}
	if h.mac {
		return hmac.New(f, h.key)
	}
	return f()
}

type encodingValue string

func (encodingValue) typeName() string { return "Encoding" }
func (e encodingValue) String() string { return "System.Text." + string(e) + "Encoding" }

func encode(e encodingValue, s string) []byte {
	switch e {
	case "ASCII":
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 127 {
				r = '?'
			}
			b = append(b, byte(r))
		}
		return b
	case "Unicode":
		u := utf16.Encode([]rune(s))
		b := make([]byte, 2*len(u))
		for i, x := range u {
			binary.LittleEndian.PutUint16(b[2*i:], x)
		}
		return b
	}
	return []byte(s)
}

func decode(e encodingValue, b []byte) string {
	switch e {
	case "ASCII":
		r := make([]rune, len(b))
		for i, x := range b {
			if x > 127 {
				x = '?'
			}
			r[i] = rune(x)
		}
		return string(r)
	case "Unicode":
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		return string(utf16.Decode(u))
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// uriValue is System.Uri.
type uriValue struct{ u *url.URL }

func (*uriValue) typeName() string { return "Uri" }
func (u *uriValue) String() string { return u.u.String() }

func parseURI(s string) (Value, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return Value{}, &thrown{typ: "UriFormatException", msg: "Invalid URI: The format of the URI could not be determined."}
	}
	return objValue(&uriValue{u: u}), nil
}

// escapeData is Uri.EscapeDataString: RFC 3986 unreserved characters kept.
func escapeData(s string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

func parseInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n, err == nil
}

func parseDouble(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f, err == nil
}

func formatExc(s, t string) error {
	return &thrown{typ: "FormatException", msg: "The input string '" + s + "' was not in a correct format (" + t + ")."}
}

func aesCipher(key, iv []byte) (cipher.Block, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, &thrown{typ: "CryptographicException", msg: "Specified key is not a valid size for this algorithm."}
	}
	if len(iv) != aes.BlockSize {
		return nil, &thrown{typ: "CryptographicException", msg: "Specified initialization vector (IV) does not match the block size for this algorithm."}
	}
	return blk, nil
}

func init() {
	ba := regType("byte[]")
	ba.p("Length", tyInt, func(c *Context, v Value) (Value, error) { return IntValue(int64(len(v.o.(*byteArray).b))), nil })
	ba.index = func(c *Context, v, k Value) (Value, error) {
		b := v.o.(*byteArray).b
		if k.k != kInt || k.i < 0 || k.i >= int64(len(b)) {
			return Value{}, evalErr("index %s is outside the array of length %d", k.String(), len(b))
		}
		return IntValue(int64(b[k.i])), nil
	}
	ba.indexT = tyInt
	ba.setIndex = func(c *Context, v, k, x Value) error {
		b := v.o.(*byteArray).b
		if k.k != kInt || k.i < 0 || k.i >= int64(len(b)) || x.k != kInt {
			return evalErr("index %s is outside the array of length %d", k.String(), len(b))
		}
		b[k.i] = byte(x.i)
		return nil
	}
	crypt := func(enc bool) func(c *Context, v Value, a []Value, _ string) (Value, error) {
		return func(c *Context, v Value, a []Value, _ string) (Value, error) {
			alg := strings.ToLower(a[0].String())
			if alg != "aes" && alg != "rijndael" && alg != "system.security.cryptography.aes" {
				return Value{}, evalErr("Encrypt/Decrypt: algorithm %q is not supported (Aes is)", a[0].String())
			}
			key, err := bytesArg("key", a[1])
			if err != nil {
				return Value{}, err
			}
			iv, err := bytesArg("iv", a[2])
			if err != nil {
				return Value{}, err
			}
			blk, err := aesCipher(key, iv)
			if err != nil {
				return Value{}, err
			}
			in := v.o.(*byteArray).b
			if err := c.charge(len(in) + 16); err != nil {
				return Value{}, err
			}
			if enc {
				p := 16 - len(in)%16
				buf := append(append([]byte(nil), in...), make([]byte, p)...)
				for i := len(in); i < len(buf); i++ {
					buf[i] = byte(p)
				}
				cipher.NewCBCEncrypter(blk, iv).CryptBlocks(buf, buf)
				return bytesValue(buf), nil
			}
			if len(in) == 0 || len(in)%16 != 0 {
				return Value{}, &thrown{typ: "CryptographicException", msg: "The input data is not a complete block."}
			}
			buf := append([]byte(nil), in...)
			cipher.NewCBCDecrypter(blk, iv).CryptBlocks(buf, buf)
			p := int(buf[len(buf)-1])
			if p == 0 || p > 16 || p > len(buf) {
				return Value{}, &thrown{typ: "CryptographicException", msg: "Padding is invalid and cannot be removed."}
			}
			return bytesValue(buf[:len(buf)-p]), nil
		}
	}
	ba.m("Encrypt", 3, 3, "byte[]", crypt(true), "alg", "key", "iv")
	ba.m("Decrypt", 3, 3, "byte[]", crypt(false), "alg", "key", "iv")

	cv := regType("Convert")
	cv.sm("ToBase64String", 1, 3, tyString, func(c *Context, a []Value, _ string) (Value, error) {
		b, err := bytesArg("inArray", a[0])
		if err != nil {
			return Value{}, err
		}
		if len(a) == 3 {
			off, n := int(a[1].i), int(a[2].i)
			if off < 0 || n < 0 || off+n > len(b) {
				return Value{}, evalErr("ToBase64String: range outside the array")
			}
			b = b[off : off+n]
		}
		return str(b64(b)), c.charge(len(b) * 2)
	})
	cv.sm("FromBase64String", 1, 1, "byte[]", func(c *Context, a []Value, _ string) (Value, error) {
		s, err := strArg("s", a[0])
		if err != nil {
			return Value{}, err
		}
		s = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
				return -1
			}
			return r
		}, s)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return Value{}, &thrown{typ: "FormatException", msg: "The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters."}
		}
		return bytesValue(b), c.charge(len(b))
	})
	cv.sm("ToHexString", 1, 1, tyString, func(c *Context, a []Value, _ string) (Value, error) {
		b, err := bytesArg("inArray", a[0])
		if err != nil {
			return Value{}, err
		}
		return str(strings.ToUpper(hex.EncodeToString(b))), nil
	})
	cv.sm("FromHexString", 1, 1, "byte[]", func(c *Context, a []Value, _ string) (Value, error) {
		b, err := hex.DecodeString(a[0].String())
		if err != nil {
			return Value{}, formatExc(a[0].String(), "hex")
		}
		return bytesValue(b), nil
	})
	toInt := func(bits int) func(c *Context, a []Value, _ string) (Value, error) {
		return func(c *Context, a []Value, _ string) (Value, error) {
			v := a[0]
			if jv, ok := jsonPrimitive(v); ok {
				v = jv
			}
			switch v.k {
			case kInt:
				if len(a) == 2 {
					return Value{}, evalErr("Convert.ToInt32(int, base) is not supported")
				}
				return v, nil
			case kDouble:
				return IntValue(int64(math.RoundToEven(v.float()))), nil
			case kBool:
				if v.b {
					return IntValue(1), nil
				}
				return IntValue(0), nil
			case kNull:
				return IntValue(0), nil
			case kString:
				base := 10
				if len(a) == 2 {
					base = int(a[1].i)
				}
				s := strings.TrimSpace(v.s)
				if base == 16 {
					s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
				}
				n, err := strconv.ParseInt(s, base, bits)
				if err != nil {
					return Value{}, formatExc(v.s, "int")
				}
				return IntValue(n), nil
			}
			return Value{}, evalErr("cannot convert %s to an integer", runtimeType(v))
		}
	}
	cv.sm("ToInt32", 1, 2, tyInt, toInt(32))
	cv.sm("ToInt64", 1, 2, tyInt, toInt(64))
	cv.sm("ToInt16", 1, 2, tyInt, toInt(16))
	cv.sm("ToByte", 1, 2, tyInt, func(c *Context, a []Value, t string) (Value, error) {
		v, err := toInt(64)(c, a, t)
		if err != nil {
			return Value{}, err
		}
		if v.i < 0 || v.i > 255 {
			return Value{}, &thrown{typ: "OverflowException", msg: "Value was either too large or too small for an unsigned byte."}
		}
		return v, nil
	})
	cv.sm("ToDouble", 1, 1, tyDouble, func(c *Context, a []Value, _ string) (Value, error) {
		v := a[0]
		if jv, ok := jsonPrimitive(v); ok {
			v = jv
		}
		switch v.k {
		case kInt, kDouble:
			return doubleValue(v.float()), nil
		case kString:
			if f, ok := parseDouble(v.s); ok {
				return doubleValue(f), nil
			}
			return Value{}, formatExc(v.s, "double")
		}
		return Value{}, evalErr("cannot convert %s to double", runtimeType(v))
	})
	cv.sm("ToBoolean", 1, 1, tyBool, func(c *Context, a []Value, _ string) (Value, error) {
		v := a[0]
		if jv, ok := jsonPrimitive(v); ok {
			v = jv
		}
		switch v.k {
		case kBool:
			return v, nil
		case kInt:
			return BoolValue(v.i != 0), nil
		case kString:
			b, err := strconv.ParseBool(strings.TrimSpace(v.s))
			if err != nil {
				return Value{}, formatExc(v.s, "bool")
			}
			return BoolValue(b), nil
		}
		return Value{}, evalErr("cannot convert %s to bool", runtimeType(v))
	})
	cv.sm("ToString", 1, 2, tyString, func(c *Context, a []Value, _ string) (Value, error) {
		if len(a) == 2 && a[0].k == kInt && a[1].k == kInt {
			return str(strconv.FormatInt(a[0].i, int(a[1].i))), nil
		}
		return str(a[0].String()), nil
	})
	cv.sm("ToDateTime", 1, 1, "DateTime", func(c *Context, a []Value, _ string) (Value, error) {
		if d, ok := asTime(a[0]); ok {
			return objValue(dateTime{t: d.t}), nil
		}
		return parseDateTime(a[0].String(), false)
	})

	en := regType("Encoding")
	for _, n := range []string{"UTF8", "ASCII", "Unicode", "Default"} {
		name := n
		if name == "Default" {
			name = "UTF8"
		}
		val := objValue(encodingValue(name))
		en.sp(n, "Encoding", func(c *Context) (Value, error) { return val, nil })
	}
	en.m("GetBytes", 1, 1, "byte[]", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		s, err := strArg("s", a[0])
		if err != nil {
			return Value{}, err
		}
		return bytesValue(encode(v.o.(encodingValue), s)), c.charge(len(s) * 2)
	})
	en.m("GetString", 1, 3, tyString, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		b, err := bytesArg("bytes", a[0])
		if err != nil {
			return Value{}, err
		}
		if len(a) == 3 {
			off, n := int(a[1].i), int(a[2].i)
			if off < 0 || n < 0 || off+n > len(b) {
				return Value{}, evalErr("GetString: range outside the array")
			}
			b = b[off : off+n]
		}
		return str(decode(v.o.(encodingValue), b)), c.charge(len(b))
	})

	bc := regType("BitConverter")
	bc.sm("ToInt32", 2, 2, tyInt, func(c *Context, a []Value, _ string) (Value, error) {
		b, err := bytesArg("value", a[0])
		if err != nil {
			return Value{}, err
		}
		i := int(a[1].i)
		if i < 0 || i+4 > len(b) {
			return Value{}, evalErr("BitConverter.ToInt32: index outside the array")
		}
		return IntValue(int64(int32(binary.LittleEndian.Uint32(b[i:])))), nil
	})
	bc.sm("ToInt64", 2, 2, tyInt, func(c *Context, a []Value, _ string) (Value, error) {
		b, err := bytesArg("value", a[0])
		if err != nil {
			return Value{}, err
		}
		i := int(a[1].i)
		if i < 0 || i+8 > len(b) {
			return Value{}, evalErr("BitConverter.ToInt64: index outside the array")
		}
		return IntValue(int64(binary.LittleEndian.Uint64(b[i:]))), nil
	})
	bc.sm("GetBytes", 1, 1, "byte[]", func(c *Context, a []Value, _ string) (Value, error) {
		if a[0].k != kInt {
			return Value{}, evalErr("BitConverter.GetBytes takes an int")
		}
		b := make([]byte, 8)
		binary.LittleEndian.PutUint64(b, uint64(a[0].i))
		if a[0].i >= math.MinInt32 && a[0].i <= math.MaxInt32 {
			b = b[:4]
		}
		return bytesValue(b), nil
	})
	bc.sm("ToString", 1, 1, tyString, func(c *Context, a []Value, _ string) (Value, error) {
		b, err := bytesArg("value", a[0])
		if err != nil {
			return Value{}, err
		}
		h := strings.ToUpper(hex.EncodeToString(b))
		var out []string
		for i := 0; i+1 < len(h); i += 2 {
			out = append(out, h[i:i+2])
		}
		return str(strings.Join(out, "-")), nil
	})
	bc.sp("IsLittleEndian", tyBool, func(c *Context) (Value, error) { return BoolValue(true), nil })

	arr := regType("Array")
	arr.sm("Copy", 3, 5, tyVoid, func(c *Context, a []Value, _ string) (Value, error) {
		src, err := bytesArg("sourceArray", a[0])
		if err != nil {
			return Value{}, err
		}
		si, di, n := 0, 0, 0
		var dst []byte
		if len(a) == 3 {
			dst, err = bytesArg("destinationArray", a[1])
			n = int(a[2].i)
		} else if len(a) == 5 {
			si = int(a[1].i)
			dst, err = bytesArg("destinationArray", a[2])
			di, n = int(a[3].i), int(a[4].i)
		} else {
			return Value{}, evalErr("Array.Copy takes 3 or 5 arguments")
		}
		if err != nil {
			return Value{}, err
		}
		if si < 0 || di < 0 || n < 0 || si+n > len(src) || di+n > len(dst) {
			return Value{}, &thrown{typ: "ArgumentException", msg: "Destination array was not long enough."}
		}
		copy(dst[di:di+n], src[si:si+n])
		return Value{}, nil
	})
	arr.sm("Exists", 2, 2, tyBool, func(c *Context, a []Value, _ string) (Value, error) {
		items, err := enumerate(c, a[0])
		if err != nil {
			return Value{}, err
		}
		for _, x := range items {
			ok, err := predicate(c, a[1], x)
			if err != nil || ok {
				return BoolValue(ok), err
			}
		}
		return BoolValue(false), nil
	})
	arr.sm("TrueForAll", 2, 2, tyBool, func(c *Context, a []Value, _ string) (Value, error) {
		items, err := enumerate(c, a[0])
		if err != nil {
			return Value{}, err
		}
		for _, x := range items {
			ok, err := predicate(c, a[1], x)
			if err != nil || !ok {
				return BoolValue(false), err
			}
		}
		return BoolValue(true), nil
	})
	arr.sm("Find", 2, 2, tyAny, func(c *Context, a []Value, _ string) (Value, error) {
		items, err := enumerate(c, a[0])
		if err != nil {
			return Value{}, err
		}
		for _, x := range items {
			ok, err := predicate(c, a[1], x)
			if err != nil {
				return Value{}, err
			}
			if ok {
				return x, nil
			}
		}
		return Value{}, nil
	})
	arr.sm("IndexOf", 2, 2, tyInt, func(c *Context, a []Value, _ string) (Value, error) {
		items, err := enumerate(c, a[0])
		if err != nil {
			return Value{}, err
		}
		for i, x := range items {
			if looseEqual(x, a[1]) {
				return IntValue(int64(i)), nil
			}
		}
		return IntValue(-1), nil
	})
	arr.sm("Reverse", 1, 1, tyVoid, func(c *Context, a []Value, _ string) (Value, error) {
		b, err := bytesArg("array", a[0])
		if err != nil {
			return Value{}, err
		}
		for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
		return Value{}, nil
	})

	g := regType("Guid")
	g.sm("NewGuid", 0, 0, "Guid", func(c *Context, a []Value, _ string) (Value, error) { return objValue(newGuid()), nil })
	g.sp("Empty", "Guid", func(c *Context) (Value, error) {
		return objValue(guidValue("00000000-0000-0000-0000-000000000000")), nil
	})
	g.sm("Parse", 1, 1, "Guid", func(c *Context, a []Value, _ string) (Value, error) {
		v, ok := parseGuid(a[0].String())
		if !ok {
			return Value{}, &thrown{typ: "FormatException", msg: "Unrecognized Guid format."}
		}
		return objValue(v), nil
	})
	g.sm("TryParse", 2, 2, tyBool, func(c *Context, a []Value, _ string) (Value, error) {
		v, ok := parseGuid(a[0].String())
		c.x.out = objValue(guidValue("00000000-0000-0000-0000-000000000000"))
		if ok {
			c.x.out = objValue(v)
		}
		return BoolValue(ok), nil
	}).out = true
	g.ctor = &method{min: 1, max: 1, t: "Guid", fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
		if b, ok := a[0].o.(*byteArray); ok && a[0].k == kObject {
			if len(b.b) != 16 {
				return Value{}, &thrown{typ: "ArgumentException", msg: "Byte array for GUID must be exactly 16 bytes long."}
			}
			return objValue(guidFromBytes(b.b)), nil
		}
		v, ok := parseGuid(a[0].String())
		if !ok {
			return Value{}, &thrown{typ: "FormatException", msg: "Unrecognized Guid format."}
		}
		return objValue(v), nil
	}}
	g.m("ToByteArray", 0, 0, "byte[]", func(c *Context, v Value, a []Value, _ string) (Value, error) {
		return bytesValue(v.o.(guidValue).bytes()), nil
	})
	g.m("ToString", 0, 1, tyString, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		if len(a) == 1 {
			return str(v.o.(guidValue).format(a[0].String())), nil
		}
		return str(v.String()), nil
	})

	rnd := regType("Random")
	rnd.ctor = &method{min: 0, max: 1, t: "Random", fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
		var seed uint64
		if len(a) == 1 && a[0].k == kInt {
			seed = uint64(a[0].i)
		} else {
			var b [8]byte
			_, _ = rand.Read(b[:])
			seed = binary.LittleEndian.Uint64(b[:])
		}
		return objValue(&randomValue{r: mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}), nil
	}}
	rnd.m("Next", 0, 2, tyInt, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		r := v.o.(*randomValue).r
		lo, hi := int64(0), int64(math.MaxInt32)
		switch len(a) {
		case 1:
			hi = a[0].i
		case 2:
			lo, hi = a[0].i, a[1].i
		}
		if hi < lo {
			return Value{}, &thrown{typ: "ArgumentOutOfRangeException", msg: "'minValue' cannot be greater than maxValue."}
		}
		if hi == lo {
			return IntValue(lo), nil
		}
		return IntValue(lo + r.Int64N(hi-lo)), nil
	})
	rnd.m("NextDouble", 0, 0, tyDouble, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		return doubleValue(v.o.(*randomValue).r.Float64()), nil
	})

	m := regType("Math")
	m.sp("PI", tyDouble, func(c *Context) (Value, error) { return doubleValue(math.Pi), nil })
	m.sp("E", tyDouble, func(c *Context) (Value, error) { return doubleValue(math.E), nil })
	f1 := func(name string, f func(float64) float64, keepInt bool) {
		m.sm(name, 1, 2, tyAny, func(c *Context, a []Value, _ string) (Value, error) {
			x, err := numArg(a[0])
			if err != nil {
				return Value{}, err
			}
			if keepInt && a[0].k == kInt {
				return IntValue(int64(f(x))), nil
			}
			if name == "Round" && len(a) == 2 && a[1].k == kInt {
				p := math.Pow(10, float64(a[1].i))
				return doubleValue(math.RoundToEven(x*p) / p), nil
			}
			return doubleValue(f(x)), nil
		})
	}
	f1("Abs", math.Abs, true)
	f1("Floor", math.Floor, false)
	f1("Ceiling", math.Ceil, false)
	f1("Round", math.RoundToEven, false)
	f1("Truncate", math.Trunc, false)
	f1("Sqrt", math.Sqrt, false)
	f1("Log", math.Log, false)
	f1("Log10", math.Log10, false)
	f1("Exp", math.Exp, false)
	f1("Sign", func(x float64) float64 {
		switch {
		case x > 0:
			return 1
		case x < 0:
			return -1
		}
		return 0
	}, true)
	f2 := func(name string, f func(a, b float64) float64) {
		m.sm(name, 2, 2, tyAny, func(c *Context, a []Value, _ string) (Value, error) {
			x, err := numArg(a[0])
			if err != nil {
				return Value{}, err
			}
			y, err := numArg(a[1])
			if err != nil {
				return Value{}, err
			}
			if a[0].k == kInt && a[1].k == kInt && name != "Pow" {
				return IntValue(int64(f(x, y))), nil
			}
			return doubleValue(f(x, y)), nil
		})
	}
	f2("Max", math.Max)
	f2("Min", math.Min)
	f2("Pow", math.Pow)

	// int/long/double/bool/Guid statics.
	for _, n := range []string{"int", "double", "bool"} {
		regType(n)
	}
	ints := regType("int")
	ints.sm("Parse", 1, 3, tyInt, func(c *Context, a []Value, _ string) (Value, error) {
		s, err := strArg("s", a[0])
		if err != nil {
			return Value{}, err
		}
		n, ok := parseInt(s)
		if !ok {
			return Value{}, formatExc(s, "int")
		}
		return IntValue(n), nil
	})
	ints.sm("TryParse", 2, 4, tyBool, func(c *Context, a []Value, _ string) (Value, error) {
		c.x.out = IntValue(0)
		if a[0].k != kString {
			return BoolValue(false), nil
		}
		n, ok := parseInt(a[0].s)
		if ok {
			c.x.out = IntValue(n)
		}
		return BoolValue(ok), nil
	}).out = true
	ints.sp("MaxValue", tyInt, func(c *Context) (Value, error) { return IntValue(math.MaxInt32), nil })
	ints.sp("MinValue", tyInt, func(c *Context) (Value, error) { return IntValue(math.MinInt32), nil })
	ints.m("ToString", 0, 1, tyString, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		if len(a) == 1 && a[0].k == kString {
			s, err := formatNumber(v, a[0].s)
			return str(s), err
		}
		return str(v.String()), nil
	}, "format")
	ints.m("CompareTo", 1, 1, tyInt, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		return IntValue(int64(compareValues(v, a[0]))), nil
	})
	dbl := regType("double")
	dbl.sm("Parse", 1, 3, tyDouble, func(c *Context, a []Value, _ string) (Value, error) {
		s, err := strArg("s", a[0])
		if err != nil {
			return Value{}, err
		}
		f, ok := parseDouble(s)
		if !ok {
			return Value{}, formatExc(s, "double")
		}
		return doubleValue(f), nil
	})
	dbl.sm("TryParse", 2, 4, tyBool, func(c *Context, a []Value, _ string) (Value, error) {
		c.x.out = doubleValue(0)
		f, ok := parseDouble(a[0].String())
		if ok && a[0].k == kString {
			c.x.out = doubleValue(f)
		}
		return BoolValue(ok && a[0].k == kString), nil
	}).out = true
	dbl.m("ToString", 0, 2, tyString, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		if len(a) >= 1 && a[0].k == kString {
			s, err := formatNumber(v, a[0].s)
			return str(s), err
		}
		return str(v.String()), nil
	}, "format")
	bl := regType("bool")
	bl.sm("Parse", 1, 1, tyBool, func(c *Context, a []Value, _ string) (Value, error) {
		b, err := strconv.ParseBool(strings.TrimSpace(a[0].String()))
		if err != nil || a[0].k != kString {
			return Value{}, formatExc(a[0].String(), "bool")
		}
		return BoolValue(b), nil
	})
	bl.sm("TryParse", 2, 2, tyBool, func(c *Context, a []Value, _ string) (Value, error) {
		b, err := strconv.ParseBool(strings.TrimSpace(a[0].String()))
		c.x.out = BoolValue(err == nil && b)
		return BoolValue(err == nil && a[0].k == kString), nil
	}).out = true

	u := regType("Uri")
	u.ctor = &method{min: 1, max: 2, t: "Uri", fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
		s, err := strArg("uriString", a[0])
		if err != nil {
			return Value{}, err
		}
		if len(a) == 2 && a[1].k == kString {
			base, err := url.Parse(s)
			if err != nil {
				return Value{}, &thrown{typ: "UriFormatException", msg: "Invalid URI"}
			}
			ref, err := url.Parse(a[1].s)
			if err != nil {
				return Value{}, &thrown{typ: "UriFormatException", msg: "Invalid URI"}
			}
			return objValue(&uriValue{u: base.ResolveReference(ref)}), nil
		}
		return parseURI(s)
	}}
	u.sm("EscapeDataString", 1, 1, tyString, func(c *Context, a []Value, _ string) (Value, error) {
		s, err := strArg("stringToEscape", a[0])
		return str(escapeData(s)), err
	})
	u.sm("UnescapeDataString", 1, 1, tyString, func(c *Context, a []Value, _ string) (Value, error) {
		s, err := strArg("stringToUnescape", a[0])
		if err != nil {
			return Value{}, err
		}
		out, err := url.PathUnescape(s)
		if err != nil {
			return str(s), nil
		}
		return str(out), nil
	})
	u.sm("EscapeUriString", 1, 1, tyString, func(c *Context, a []Value, _ string) (Value, error) {
		return str((&url.URL{Path: a[0].String()}).EscapedPath()), nil
	})
	u.sm("IsWellFormedUriString", 2, 2, tyBool, func(c *Context, a []Value, _ string) (Value, error) {
		_, err := parseURI(a[0].String())
		return BoolValue(err == nil), nil
	})
	up := func(n string, f func(u *url.URL) Value) {
		u.p(n, tyString, func(c *Context, v Value) (Value, error) { return f(v.o.(*uriValue).u), nil })
	}
	up("Host", func(u *url.URL) Value { return str(u.Hostname()) })
	up("Scheme", func(u *url.URL) Value { return str(u.Scheme) })
	up("AbsolutePath", func(u *url.URL) Value {
		if u.EscapedPath() == "" {
			return str("/")
		}
		return str(u.EscapedPath())
	})
	up("Path", func(u *url.URL) Value { return str(u.EscapedPath()) })
	up("Query", func(u *url.URL) Value {
		if u.RawQuery == "" {
			return str("")
		}
		return str("?" + u.RawQuery)
	})
	up("PathAndQuery", func(u *url.URL) Value { return str(u.RequestURI()) })
	up("AbsoluteUri", func(u *url.URL) Value { return str(u.String()) })
	up("Authority", func(u *url.URL) Value { return str(u.Host) })
	up("Fragment", func(u *url.URL) Value { return str(u.Fragment) })
	u.p("Port", tyInt, func(c *Context, v Value) (Value, error) {
		uu := v.o.(*uriValue).u
		if p := uu.Port(); p != "" {
			n, _ := strconv.Atoi(p)
			return IntValue(int64(n)), nil
		}
		if uu.Scheme == "http" {
			return IntValue(80), nil
		}
		return IntValue(443), nil
	})

	wu := regType("WebUtility")
	hu := regType("HttpUtility")
	for _, ti := range []*typeInfo{wu, hu} {
		ti.sm("UrlEncode", 1, 1, tyString, func(c *Context, a []Value, _ string) (Value, error) {
			if a[0].k == kNull {
				return Value{}, nil
			}
			return str(url.QueryEscape(a[0].String())), nil
		})
		ti.sm("UrlDecode", 1, 1, tyString, func(c *Context, a []Value, _ string) (Value, error) {
			out, err := url.QueryUnescape(a[0].String())
			if err != nil {
				return str(a[0].String()), nil
			}
			return str(out), nil
		})
		ti.sm("HtmlEncode", 1, 1, tyString, func(c *Context, a []Value, _ string) (Value, error) {
			return str(html.EscapeString(a[0].String())), nil
		})
		ti.sm("HtmlDecode", 1, 1, tyString, func(c *Context, a []Value, _ string) (Value, error) {
			return str(html.UnescapeString(a[0].String())), nil
		})
	}

	hm := regType("HMAC")
	hm.ctor = &method{min: 0, max: 1, t: "HMAC", fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
		h := &hasher{name: "HMACSHA256", mac: true}
		if len(a) == 1 {
			k, err := bytesArg("key", a[0])
			if err != nil {
				return Value{}, err
			}
			h.key = k
		}
		return objValue(h), nil
	}}
	hm.props["Key"] = &member{t: "byte[]", get: func(c *Context, v Value) (Value, error) {
		return bytesValue(v.o.(*hasher).key), nil
	}, set: func(c *Context, v, x Value) error {
		k, err := bytesArg("Key", x)
		if err != nil {
			return err
		}
		v.o.(*hasher).key = k
		return nil
	}}
	anyProp["Key"] = true
	ha := regType("HashAlgorithm")
	for _, ti := range []*typeInfo{hm, ha} {
		ti.m("ComputeHash", 1, 3, "byte[]", func(c *Context, v Value, a []Value, _ string) (Value, error) {
			b, err := bytesArg("buffer", a[0])
			if err != nil {
				return Value{}, err
			}
			h := v.o.(*hasher).new()
			h.Write(b)
			return bytesValue(h.Sum(nil)), nil
		})
		ti.m("Dispose", 0, 0, tyVoid, func(c *Context, v Value, a []Value, _ string) (Value, error) { return Value{}, nil })
	}
	for _, n := range []string{"HMACSHA256", "HMACSHA1", "HMACSHA512", "HMACSHA384", "HMACMD5"} {
		name := n
		ti := regType(name, "HMAC")
		ti.ctor = &method{min: 0, max: 1, t: "HMAC", fn: func(c *Context, _ Value, a []Value, _ string) (Value, error) {
			h := &hasher{name: name, mac: true}
			if len(a) == 1 {
				k, err := bytesArg("key", a[0])
				if err != nil {
					return Value{}, err
				}
				h.key = k
			}
			return objValue(h), nil
		}}
	}
	for _, n := range []string{"SHA256", "SHA1", "SHA512", "SHA384", "MD5"} {
		name := n
		ti := regType(name, "HashAlgorithm")
		mk := func(c *Context, a []Value, _ string) (Value, error) { return objValue(&hasher{name: name}), nil }
		ti.sm("Create", 0, 0, "HashAlgorithm", mk)
		ti.sm("HashData", 1, 1, "byte[]", func(c *Context, a []Value, _ string) (Value, error) {
			b, err := bytesArg("source", a[0])
			if err != nil {
				return Value{}, err
			}
			h := (&hasher{name: name}).new()
			h.Write(b)
			return bytesValue(h.Sum(nil)), nil
		})
		ti.ctor = &method{min: 0, max: 0, t: "HashAlgorithm", fn: func(c *Context, _ Value, a []Value, t string) (Value, error) { return mk(c, a, t) }}
		types[name+"Managed"] = ti
	}
}
