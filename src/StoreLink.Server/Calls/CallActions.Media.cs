using System.Text.Json;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Http;
using StoreLink.Server.Realtime;

namespace StoreLink.Server.Calls;

// What happens while a call runs: signals between participants, quality samples, snapshots (recording: .Recording.cs).
public sealed partial class CallActions
{
    public const int MaxSignalBytes = 32 * 1024;

    /// <summary>
    /// Relays a WebRTC signal to participant <paramref name="to"/> of a call that is not ended; the sender must have
    /// joined it. Handed to the bus when this returns. A signal keeps the sender alive like a quality sample.
    /// </summary>
    public async Task SignalAsync(CurrentUser user, string callId, string to, string? toDevice, JsonElement signal, CancellationToken ct)
    {
        if (signal.ValueKind != JsonValueKind.Object || !signal.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
            throw ApiException.Invalid("signal is an object with a type: offer, answer, candidate, restart or media.");
        if (System.Text.Encoding.UTF8.GetByteCount(signal.GetRawText()) > MaxSignalBytes)
            throw new ApiException(ErrorCodes.TooLarge, $"A signal is at most {MaxSignalBytes / 1024} KiB.");
        if (toDevice is { Length: > 64 })
            throw ApiException.Invalid("to_device is at most 64 characters.");
        var (call, _) = await access.CallAsync(user, callId, ct);
        var record = (await ReadAsync(db, null, call.Id, samples: false))!;
        var me = record.Of(user.Id) ?? throw ApiException.NotFound("The call");
        if (call.Ended)
            throw ApiException.Conflict("The call has ended.");
        if (!me.Joined)
            throw ApiException.Conflict("Join the call before signalling in it.");
        if (record.Of(to) is null)
            throw ApiException.NotFound("The participant");
        var now = Now;
        // At most one write a second per sender, however many candidates it trickles: a burst of candidates reads
        // only (an UPDATE that matches nothing still waits for SQLite's write lock).
        if (me.SeenAt is not { } seen || seen < now - 1000)
            await db.ExecuteAsync("UPDATE call_participants SET seen_at = @now WHERE call_id = @callId AND user_id = @me AND state = 'joined' AND seen_at < @since",
                new { now, callId = call.Id, me = user.Id, since = now - 1000 }, ct);
        var frame = Frames.Serialize(new { type = "call_signal", call_id = call.Id, from = user.Id, from_device = me.DeviceId, to_device = toDevice, signal });
        await bus.PublishAsync(new RealtimeEvent(RealtimeEventKind.Push, Audience.Users(to), frame), ct);
    }

    /// <summary>
    /// A quality sample of a joined participant's device: stored for the call's aggregates, and it keeps the participant
    /// alive. The first <c>connected: true</c> of the call marks its setup time (from the answer to media flowing).
    /// </summary>
    public async Task StatsAsync(CurrentUser user, string callId, CallStatsRequest body, CancellationToken ct)
    {
        var (call, _) = await access.CallAsync(user, callId, ct);
        var errors = new Dictionary<string, string[]>();
        void Check(string field, double? value, double max)
        {
            if (value is { } v && (double.IsNaN(v) || v < 0 || v > max))
                errors[field] = [$"From 0 to {max}."];
        }
        Check("rtt_ms", body.RttMs, 600_000);
        Check("loss_percent", body.LossPercent, 100);
        Check("jitter_ms", body.JitterMs, 600_000);
        Check("bitrate_kbps", body.BitrateKbps, 1_000_000);
        Check("width", body.Width, 16_384);
        Check("height", body.Height, 16_384);
        Check("fps", body.Fps, 1000);
        if (errors.Count > 0)
            throw new ApiException(ErrorCodes.InvalidRequest, "The sample is not valid.", errors);
        var deviceId = DeviceId(body.DeviceId);
        var me = Participant((await ReadAsync(db, null, call.Id, samples: false))!, user);
        if (call.Ended)
            throw ApiException.Conflict("The call has ended.");
        if (!me.Joined || me.DeviceId != deviceId)
            throw ApiException.Conflict("Only the device that joined the call reports on it.");
        var now = Now;
        await db.InTransactionAsync(async (c, t) =>
        {
            // One sample a second per participant is kept, whatever a client sends: the table stays bounded by the call's length.
            await c.ExecuteAsync("""
                INSERT INTO call_samples (call_id, user_id, at, rtt_ms, loss_percent, jitter_ms, bitrate_kbps, width, height, fps, relay)
                SELECT @callId, @me, @now, @rtt, @loss, @jitter, @bitrate, @width, @height, @fps, @relay
                WHERE NOT EXISTS (SELECT 1 FROM call_samples WHERE call_id = @callId AND user_id = @me AND at > @since)
                """, new
            {
                callId = call.Id, me = user.Id, now, since = now - 1000, rtt = body.RttMs, loss = body.LossPercent, jitter = body.JitterMs, bitrate = body.BitrateKbps,
                width = body.Width, height = body.Height, fps = body.Fps, relay = body.Relay == true ? 1 : 0,
            }, t);
            await c.ExecuteAsync("UPDATE call_participants SET seen_at = @now WHERE call_id = @callId AND user_id = @me AND state = 'joined'",
                new { now, callId = call.Id, me = user.Id }, t);
            if (body.Connected == true)
                await c.ExecuteAsync("UPDATE calls SET connected_at = @now WHERE id = @callId AND connected_at IS NULL AND answered_at IS NOT NULL",
                    new { now, callId = call.Id }, t);
        }, ct);
    }

    /// <summary>
    /// A still a joined staff participant took of the call (an image they uploaded): an <c>image</c> message in the
    /// conversation in their name, and an entry on the timeline of the conversation's open work item, if it has one.
    /// A retry with the same attachment answers the same message and adds nothing.
    /// </summary>
    public async Task<CallSnapshotDto> SnapshotAsync(CurrentUser user, string callId, CallSnapshotRequest body, CancellationToken ct)
    {
        var (call, conversation) = await JoinedStaffAsync(user, callId, "Staff who joined the call take snapshots of it.", ct);
        if (string.IsNullOrWhiteSpace(body.AttachmentId))
            throw Invalid("attachment_id", "Required: the still, uploaded first (POST /v1/attachments).");
        var attachment = await access.AttachmentAsync(user, body.AttachmentId, ct);
        if (attachment.UploaderId != user.Id || !attachment.ContentType.StartsWith("image/", StringComparison.Ordinal))
            throw Invalid("attachment_id", "An image you uploaded.");
        var sent = await posts.PostAsAsync(conversation.Facts, user.Id, "staff", MessageKinds.Image, attachment.Id, $"snapshot:{call.Id}:{attachment.Id}", ct)
            ?? throw ApiException.NotFound("The attachment");
        var workItemId = conversation.Facts.Kind != ConversationKinds.Service ? null : await db.QuerySingleOrDefaultAsync<string>("""
            SELECT id FROM work_items WHERE conversation_id = @conversationId AND closed_at IS NULL ORDER BY updated_at DESC, id LIMIT 1
            """, new { conversationId = conversation.Facts.Id }, ct);
        if (workItemId is not null && sent.Created)
            await workItems.NoteAsync(user, workItemId, "call_snapshot",
                new { call_id = call.Id, attachment_id = attachment.Id, message_id = sent.Message.Id }, ct);
        return new CallSnapshotDto(sent.Message, workItemId);
    }
}
