// Package rtnl changes network interfaces over rtnetlink as systemd-udevd
// 252 does after the rules: the rename of NAME= (udev-event.c's
// rename_netif through rtnl_set_link_name, which first drops an
// alternative name the new name takes), the alternative names and the MAC
// address net_setup_link's plan asks for (link-config.c). It knows
// interface indexes and names, not devices or rules.
//
// It must not import rules, modalias, modload, workers or cmd/gudevd/internal/daemon.
package rtnl
