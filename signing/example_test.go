package signing_test

import (
	"fmt"

	"github.com/hookline/hookline/signing"
)

func ExampleSign() {
	body := []byte(`{"hello":"world"}`)
	fmt.Println(signing.HeaderSignature + ": " + signing.Sign("secret", body))
	// Output: X-Pusher-Signature: 2677ad3e7c090b2fa2c0fb13020d66d5420879b8316eb356a2d60fb9073bc778
}

func ExampleVerify() {
	body := []byte(`{"hello":"world"}`)
	sig := "40e0ad3b9aa49529322879e84de1aaaf18bde1efe839ca263d540cc865510d25"
	fmt.Println(signing.Verify("thisisasecret", body, sig))
	fmt.Println(signing.Verify("thisisasecret", body, "40E0AD3B9AA49529322879E84DE1AAAF18BDE1EFE839CA263D540CC865510D25"))
	// Output:
	// true
	// false
}
