using StoreLink.Protocol;

namespace StoreLink.Server.Workflows;

/// <summary>
/// Templated notifications (<see cref="Notifications"/>) are notices of their own: the text rendered when it was sent,
/// posted as a system message in the customer's service conversation with the store.
/// </summary>
public sealed partial class Notifier
{
    private async Task<Outcome> DeliverNotificationAsync(NoticeRow notice, CancellationToken ct)
    {
        var notification = notice.PayloadAs<NotificationPayload>();
        // Nodes (and a kick beside the loop) may deliver the same notification at once: the first to pin a conversation
        // wins, and every deliverer posts into that one, where the client_msg_id lets only one message in.
        var conversation = await posts.ServiceConversationAsync(notification.OrgId, notification.StoreId, notification.CustomerId, notice.ConversationId, ct);
        if (notice.ConversationId is null)
        {
            await db.ExecuteAsync("UPDATE customer_notices SET conversation_id = @conversationId WHERE id = @id AND conversation_id IS NULL",
                new { conversationId = conversation.Id, id = notice.Id }, ct);
            var pinned = await db.QuerySingleOrDefaultAsync<string>("SELECT conversation_id FROM customer_notices WHERE id = @id", new { id = notice.Id }, ct);
            if (pinned != conversation.Id)
                conversation = await posts.ServiceConversationAsync(notification.OrgId, notification.StoreId, notification.CustomerId, pinned, ct);
        }
        return Outcome.Posted(await posts.PostAsync(conversation, MessageKinds.System, new { text = notification.Text }, ct, clientMsgId: notice.Id));
    }
}
