package policy

// Section is one of the four sections of a <policies> document.
type Section uint8

// The sections, in the order a request meets them.
const (
	Inbound Section = iota
	Backend
	Outbound
	OnError
	numSections
)

var sectionNames = [numSections]string{"inbound", "backend", "outbound", "on-error"}

func (s Section) String() string {
	if s < numSections {
		return sectionNames[s]
	}
	return "section?"
}

func sectionByName(name string) (Section, bool) {
	for i, n := range sectionNames {
		if n == name {
			return Section(i), true
		}
	}
	return 0, false
}
