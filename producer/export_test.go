package producer

// OnHandOff makes every later Publish and PublishEnvelope of p call f once
// its events were handed off. Set it before publishing.
func OnHandOff(p *Producer, f func()) { p.onHandOff = f }
