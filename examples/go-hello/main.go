// go-hello prints the platform it was built for and the machine it runs on
// (uname(2), which QEMU answers for the emulated machine), so a
// cross-compiled image shows both.
package main

import (
	"fmt"
	"runtime"
	"syscall"
)

// targetPlatform is set by the build (-ldflags -X main.targetPlatform=...).
var targetPlatform = "unknown"

func machine() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "unknown (" + err.Error() + ")"
	}
	// Machine is [65]int8 on some architectures and [65]uint8 on others;
	// byte(c) converts either.
	var b []byte
	for _, c := range u.Machine {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

func main() {
	fmt.Printf("hello from go-hello: built for %s/%s (%s), running on %s\n",
		runtime.GOOS, runtime.GOARCH, targetPlatform, machine())
}
