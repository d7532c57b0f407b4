package main

import (
	"flag"
	"log/slog"
	"net/http"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "address to listen on")
	key := flag.String("key", "app-key", "the app's key (X-Pusher-Key)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	secret := os.Getenv("APP_SECRET")
	if secret == "" {
		log.Error("set APP_SECRET to the app's secret")
		os.Exit(2)
	}
	h := &Handler{Secrets: map[string]string{*key: secret}, Handle: func(appKey string, ev Event) {
		log.Info("event", "app_key", appKey, "name", ev.Name, "channel", ev.Channel, "id", ev.ID,
			"time_ms", ev.TimeMS, "user_id", ev.UserID, "subscription_count", ev.SubscriptionCount)
	}}
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	log.Info("receiving", "addr", *listen)
	if err := srv.ListenAndServe(); err != nil {
		log.Error("serve", "error", err)
		os.Exit(1)
	}
}
