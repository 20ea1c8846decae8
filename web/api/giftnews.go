package api

import (
	"context"

	"github.com/chobilive/chobi/economy"
	"github.com/chobilive/chobi/protocol"
	"github.com/chobilive/chobi/rooms"
)

// GiftNews announces the economy's committed gifts through rooms: the
// session's gift_animation and the recipient's notification. It lives here
// because this is the package that sees both (economy and rooms import
// nothing of each other).
type GiftNews struct{ Rooms *rooms.Service }

var _ economy.Announcer = GiftNews{}

// GiftCommitted implements economy.Announcer.
func (g GiftNews) GiftCommitted(ctx context.Context, rc economy.GiftReceipt) {
	g.Rooms.AnnounceGift(ctx, protocol.GiftAnimation{
		SessionID:   rc.SessionID,
		Gift:        protocol.Gift{ID: rc.GiftID, Name: rc.GiftName, Animation: rc.Animation},
		Sender:      protocol.UserName{ID: rc.SenderID, DisplayName: rc.SenderName},
		RecipientID: rc.RecipientID,
		Quantity:    int(rc.Quantity),
		Message:     rc.Message,
	})
	if n := rc.Notification; n != nil {
		g.Rooms.PushNotification(ctx, rc.RecipientID, rooms.NotificationMessage(
			rooms.Delivered{UserID: n.UserID, ID: n.ID, CreatedAt: n.CreatedAt},
			rooms.Notice{Type: n.Type, Title: n.Title, Body: n.Body, Data: n.Data}))
	}
}
