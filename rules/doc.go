// Package rules parses udev rules files into values and evaluates them
// against events into actions. It has no side effects: running programs,
// writing sysfs attributes and creating links belong to the caller.
//
// It must not import modalias, modload or workers.
package rules
