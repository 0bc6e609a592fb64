using Dapper;
using StoreLink.Protocol;

namespace StoreLink.Server.Workflows;

/// <summary>
/// Templated notifications (<see cref="Notifications"/>) go out with cards and reminders: each as a system message in
/// the customer's service conversation with the store, its id as the <c>client_msg_id</c>, so a crash between
/// posting and marking it delivered posts it once.
/// </summary>
public sealed partial class Notifier
{
    private async Task<int> DeliverNotificationsDueAsync(long now, CancellationToken ct)
    {
        var delivered = 0;
        var due = await db.QueryAsync<NotificationRow>(
            $"SELECT {NotificationRow.Columns} FROM notifications WHERE delivered_at IS NULL AND due_at <= @now ORDER BY due_at LIMIT 200", new { now }, ct);
        foreach (var notification in due)
        {
            try
            {
                // Nodes (and a kick beside the loop) may deliver the same notification at once: the first to pin a conversation
                // wins, and every deliverer posts into that one, where the client_msg_id lets only one message in.
                var conversation = await posts.ServiceConversationAsync(notification.OrgId, notification.StoreId, notification.CustomerId, notification.ConversationId, ct);
                if (notification.ConversationId is null)
                {
                    await db.ExecuteAsync("UPDATE notifications SET conversation_id = @conversationId WHERE id = @id AND conversation_id IS NULL",
                        new { conversationId = conversation.Id, id = notification.Id }, ct);
                    var pinned = await db.QuerySingleOrDefaultAsync<string>("SELECT conversation_id FROM notifications WHERE id = @id", new { id = notification.Id }, ct);
                    if (pinned != conversation.Id)
                        conversation = await posts.ServiceConversationAsync(notification.OrgId, notification.StoreId, notification.CustomerId, pinned, ct);
                }
                var message = await posts.PostAsync(conversation, MessageKinds.System, new { text = notification.Text }, ct, clientMsgId: notification.Id);
                await db.ExecuteAsync("""
                    UPDATE notifications SET delivered_at = @deliveredAt, message_id = @messageId WHERE id = @id
                    """, new { deliveredAt = clock.GetUtcNow().ToUnixTimeMilliseconds(), messageId = message.Id, id = notification.Id }, ct);
                delivered++;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Notification {Notification} not delivered; retried on the next round", notification.Id);
            }
        }
        return delivered;
    }
}
