package importfile

import (
	"errors"
	"time"
)

// idWeights are the GB 11643-1999 weights, 2^(17-i) mod 11.
var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// idCheckChars maps the weighted sum mod 11 to the check character
// (ISO 7064 MOD 11-2).
const idCheckChars = "10X98765432"

// IDCheckDigit returns the check character ('0'-'9' or 'X') for the first 17
// digits of a citizen ID number.
func IDCheckDigit(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, errors.New("id check digit: need exactly 17 digits")
	}
	sum := 0
	for i := range 17 {
		d := first17[i]
		if d < '0' || d > '9' {
			return 0, errors.New("id check digit: non-digit in first 17 characters")
		}
		sum += int(d-'0') * idWeights[i]
	}
	return idCheckChars[sum%11], nil
}

// ValidIDNumber reports whether s is 17 ASCII digits followed by the correct
// GB 11643-1999 check character (upper-case X for ten). It checks the form
// and the check digit only; see idBirthDate for the embedded date.
func ValidIDNumber(s string) bool {
	if len(s) != 18 {
		return false
	}
	want, err := IDCheckDigit(s[:17])
	return err == nil && s[17] == want
}

// idBirthDate returns the birth date encoded in positions 7-14 of a
// well-formed ID number.
func idBirthDate(id string) (time.Time, bool) {
	y := atoiDigits(id[6:10])
	m := atoiDigits(id[10:12])
	d := atoiDigits(id[12:14])
	return makeDate(y, m, d)
}

// atoiDigits parses a short all-digit string; callers have checked the digits.
func atoiDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// makeDate builds a UTC midnight date, refusing days that do not exist
// (2023-02-30) rather than letting time.Date roll them over.
func makeDate(y, m, d int) (time.Time, bool) {
	if m < 1 || m > 12 || d < 1 || d > 31 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d {
		return time.Time{}, false
	}
	return t, true
}
