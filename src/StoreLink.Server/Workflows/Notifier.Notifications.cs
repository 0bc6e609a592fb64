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
                var conversation = await ConversationAsync(notification.OrgId, notification.StoreId, notification.CustomerId, null, ct);
                var message = await router.PostAsync(conversation, MessageKinds.System, new { text = notification.Text }, ct, clientMsgId: notification.Id);
                await db.ExecuteAsync("""
                    UPDATE notifications SET delivered_at = @deliveredAt, conversation_id = @conversationId, message_id = @messageId WHERE id = @id
                    """, new { deliveredAt = clock.GetUtcNow().ToUnixTimeMilliseconds(), conversationId = conversation.Id, messageId = message.Id, id = notification.Id }, ct);
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
