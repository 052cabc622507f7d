package builtin

import "context"

// gptAutoRoot is udevd's find_gpt_root for a GPT disk: when the disk
// holds the ESP or XBOOTLDR the boot loader says it booted from, the
// first (or newest-labelled) root partition of the native architecture
// without the no-auto flag gives ID_PART_GPT_AUTO_ROOT_UUID. gudevd does
// not compute it yet: it needs every partition entry of the disk (blkid
// -p prints only the probed partition's) and the EFI variable
// LoaderDevicePartUUID, and a guest without EFI boot never sets it.
func gptAutoRoot(ctx context.Context, dev *Device, req BlkidRequest, probe BlkidProbe) []Prop {
	return nil
}
