package rules

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// Users resolves the user and group names of OWNER and GROUP when the
// rules load, as udevd's get_user_creds and get_group_creds do. A name
// that does not exist is an error matching ErrUnknownName.
type Users interface {
	LookupUser(name string) (uint32, error)
	LookupGroup(name string) (uint32, error)
}

// ErrUnknownName is the error of a user or group that does not exist
// (udevd's ENOENT/ESRCH from NSS).
var ErrUnknownName = errors.New("no such user or group")

// invalidID is UID_INVALID and GID_INVALID: what udevd keeps for OWNER or
// GROUP when the name is unknown, so the device keeps its owner.
const invalidID = 1<<32 - 1

// PasswdFiles resolves names from etc/passwd and etc/group in FS, as
// glibc's files backend does for the common case: no NSS modules, no cgo.
type PasswdFiles struct {
	FS fs.FS // rooted at "/"
}

// LookupUser returns the uid of name in etc/passwd.
func (p PasswdFiles) LookupUser(name string) (uint32, error) {
	return lookupDB(p.FS, "etc/passwd", name)
}

// LookupGroup returns the gid of name in etc/group.
func (p PasswdFiles) LookupGroup(name string) (uint32, error) {
	return lookupDB(p.FS, "etc/group", name)
}

// lookupDB finds name in a colon-separated database whose third field is
// the numeric id.
func lookupDB(fsys fs.FS, path, name string) (uint32, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 || fields[0] != name {
			continue
		}
		id, err := strconv.ParseUint(fields[2], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%s: bad id for %q: %w", path, name, err)
		}
		return uint32(id), nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	return 0, fmt.Errorf("%q in %s: %w", name, path, ErrUnknownName)
}

// synthesized are the names systemd answers without asking NSS
// (synthesize_user_creds, synthesize_group_creds). Debian's nobody group
// is nogroup.
var (
	synthUsers  = map[string]uint32{"root": 0, "nobody": 65534, "65534": 65534}
	synthGroups = map[string]uint32{"root": 0, "nogroup": 65534, "65534": 65534}
)

// resolveName resolves a plain OWNER or GROUP name as udevd does with
// RESOLVE_NAME_EARLY. A name that does not resolve is only logged (msg):
// udevd keeps the token with the invalid id.
func resolveName(users Users, group bool, name string) (id uint32, msg string) {
	entity, synth := "user", synthUsers
	if group {
		entity, synth = "group", synthGroups
	}
	if v, ok := synth[name]; ok {
		return v, ""
	}
	if users == nil {
		return invalidID, fmt.Sprintf("Unknown %s '%s', ignoring", entity, name)
	}
	lookup := users.LookupUser
	if group {
		lookup = users.LookupGroup
	}
	v, err := lookup(name)
	switch {
	case err == nil:
		return v, ""
	case errors.Is(err, ErrUnknownName) || errors.Is(err, fs.ErrNotExist):
		return invalidID, fmt.Sprintf("Unknown %s '%s', ignoring", entity, name)
	default:
		return invalidID, fmt.Sprintf("Failed to resolve %s '%s', ignoring: %v", entity, name, err)
	}
}

// rememberNames returns opt with its Users asked once per name for one
// load, as udevd keeps the names it resolved (rules->known_users and
// known_groups): Debian's rules name the same few groups dozens of times,
// and every lookup of PasswdFiles reads the whole file.
func rememberNames(opt *Options) *Options {
	if opt == nil || opt.Users == nil {
		return opt
	}
	o := *opt
	o.Users = &knownNames{users: opt.Users, ids: map[knownName]knownID{}}
	return &o
}

type knownName struct {
	group bool
	name  string
}

type knownID struct {
	id  uint32
	err error
}

// knownNames remembers a Users' answers, errors too.
type knownNames struct {
	users Users
	ids   map[knownName]knownID
}

func (k *knownNames) LookupUser(name string) (uint32, error) {
	return k.lookup(knownName{false, name}, k.users.LookupUser)
}

func (k *knownNames) LookupGroup(name string) (uint32, error) {
	return k.lookup(knownName{true, name}, k.users.LookupGroup)
}

func (k *knownNames) lookup(key knownName, f func(string) (uint32, error)) (uint32, error) {
	if r, ok := k.ids[key]; ok {
		return r.id, r.err
	}
	id, err := f(key.name)
	k.ids[key] = knownID{id, err}
	return id, err
}
