package rules

import "strings"

// prepare is device_properties_prepare: DEVLINKS, TAGS and CURRENT_TAGS
// follow the links and tags when those changed, but only when the new
// value is not empty: an emptied list leaves its old property in place,
// as udevd 252 does.
func (e *event) prepare() {
	if e.linksOutdated {
		if v := strings.Join(e.devlinks.list, " "); v != "" {
			e.props.set("DEVLINKS", v)
		}
		e.linksOutdated = false
	}
	if e.tagsOutdated {
		if len(e.allTags.list) > 0 {
			e.props.set("TAGS", ":"+strings.Join(e.allTags.list, ":")+":")
		}
		if len(e.curTags.list) > 0 {
			e.props.set("CURRENT_TAGS", ":"+strings.Join(e.curTags.list, ":")+":")
		}
		e.tagsOutdated = false
	}
}

// getProp is sd_device_get_property_value on the event's device.
func (e *event) getProp(key string) (string, bool) {
	e.prepare()
	return e.props.get(key)
}

func (e *event) allProps() []Property {
	e.prepare()
	return e.props.all()
}

// setProp is device_add_property: the property and, unless its key
// starts with '.', its database copy.
func (e *event) setProp(key, value string) {
	e.props.set(key, value)
	if !IsTemporary(key) {
		e.dbProps.set(key, value)
	}
}

// unsetProp is device_add_property with a NULL value.
func (e *event) unsetProp(key string) {
	e.props.unset(key)
	if !IsTemporary(key) {
		e.dbProps.unset(key)
	}
	e.res.Unset = append(e.res.Unset, key)
}

// env is the environment of a program: every property, KEY=VALUE.
func (e *event) env() []string {
	ps := e.allProps()
	env := make([]string, len(ps))
	for i, p := range ps {
		env[i] = p.Key + "=" + p.Value
	}
	return env
}

func (e *event) addTag(tag string) {
	e.allTags.add(tag)
	e.curTags.add(tag)
	e.tagsOutdated = true
}

func (e *event) finish() *Result {
	r := e.res
	r.Properties = e.allProps()
	r.DBProperties = e.dbProps.all()
	r.Tags = e.allTags.values()
	r.CurrentTags = e.curTags.values()
	r.Devlinks = e.devlinks.values()
	r.LinkPriority = e.linkPriority
	return r
}
