using System.Data.Common;
using System.Text.Json;
using System.Threading.Channels;
using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Data;
using StoreLink.Server.Http;
using StoreLink.Server.Realtime;

namespace StoreLink.Server.Conversations;

/// <summary>A message that passed every check and waits to be written.</summary>
public sealed record NewMessage(
    string Id, ConversationFacts Conversation, Audience Audience, string SenderId, string SenderKind, string SenderName,
    string? ClientMsgId, string Kind, string Body, string? AttachmentId, long CreatedAt, bool Reopen, string? ExceptConnectionId);

public sealed record SendResult(MessageDto Message, bool Created);

/// <summary>A receipt watermark to move forward (never back).</summary>
public sealed record Watermark(ConversationFacts Conversation, Audience Audience, string UserId, string UserKind, long ReadSeq, long DeliveredSeq, string? ExceptConnectionId);

/// <summary>
/// Group commit: every message and receipt of this node is written by one loop that takes whatever is waiting
/// (up to <see cref="MaxBatch"/>), writes it in one transaction and commits once — one fsync for many sends —
/// then publishes the events in commit order and only then answers the callers. Sequence numbers are taken
/// inside that transaction, under the conversation's row lock on PostgreSQL and SQLite's write lock, so they are
/// gapless whatever the number of senders and nodes. A batch that fails is retried one write at a time, so a bad
/// write fails alone.
/// </summary>
public sealed class MessageWriter(Db db, IEventBus bus, TimeProvider clock, ILogger<MessageWriter> logger) : BackgroundService
{
    public const int MaxBatch = 512;

    private readonly Channel<Write> _queue = Channel.CreateBounded<Write>(new BoundedChannelOptions(20_000)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    private abstract class Write
    {
        public RealtimeEvent[] Events { get; set; } = [];
        public abstract void Succeed();
        public abstract void Fail(Exception e);
    }

    private sealed class SendWrite(NewMessage message) : Write
    {
        public NewMessage Message { get; } = message;
        public SendResult? Result { get; set; }
        public TaskCompletionSource<SendResult> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public override void Succeed() => Done.TrySetResult(Result!);
        public override void Fail(Exception e) => Done.TrySetException(e);
    }

    private sealed class WatermarkWrite(Watermark watermark) : Write
    {
        public Watermark Watermark { get; } = watermark;
        public ReceiptDto? Result { get; set; }
        public TaskCompletionSource<ReceiptDto> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public override void Succeed() => Done.TrySetResult(Result!);
        public override void Fail(Exception e) => Done.TrySetException(e);
    }

    /// <summary>Writes a message; answers after it is committed (or found already stored under its client id).</summary>
    public async Task<SendResult> SendAsync(NewMessage message, CancellationToken ct)
    {
        var write = new SendWrite(message);
        await EnqueueAsync(write, ct);
        return await write.Done.Task;
    }

    public async Task<ReceiptDto> MarkAsync(Watermark watermark, CancellationToken ct)
    {
        var write = new WatermarkWrite(watermark);
        await EnqueueAsync(write, ct);
        return await write.Done.Task;
    }

    private async Task EnqueueAsync(Write write, CancellationToken ct)
    {
        try
        {
            await _queue.Writer.WriteAsync(write, ct);
        }
        catch (ChannelClosedException)
        {
            throw new ApiException(ErrorCodes.Unavailable, "The server is shutting down; send again shortly.");
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<Write>(MaxBatch);
        // Runs until the queue is completed at shutdown and drained: nothing accepted is left unanswered.
        while (await _queue.Reader.WaitToReadAsync(CancellationToken.None))
        {
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var write))
                batch.Add(write);
            await WriteBatchAsync(batch);
            batch.Clear();
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
    }

    private async Task WriteBatchAsync(List<Write> batch)
    {
        // One lock order for every batch on every node: conversations by id, then receipts.
        var ordered = batch.OrderBy(w => w is SendWrite ? 0 : 1)
            .ThenBy(w => w is SendWrite s ? s.Message.Conversation.Id : ((WatermarkWrite)w).Watermark.Conversation.Id, StringComparer.Ordinal)
            .ToList();
        try
        {
            await CommitAsync(ordered);
        }
        catch (Exception e) when (ordered.Count > 1)
        {
            logger.LogWarning(e, "A batch of {Count} writes failed; writing them one by one", ordered.Count);
            foreach (var write in ordered)
            {
                try
                {
                    await CommitAsync([write]);
                }
                catch (Exception single)
                {
                    write.Fail(Translate(single));
                }
            }
            return;
        }
        catch (Exception e)
        {
            ordered[0].Fail(Translate(e));
            return;
        }
    }

    private async Task CommitAsync(List<Write> writes)
    {
        await using (var connection = await db.OpenAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            foreach (var write in writes)
            {
                if (write is SendWrite send)
                    await ApplyAsync(connection, transaction, send);
                else
                    await ApplyAsync(connection, transaction, (WatermarkWrite)write);
            }
            await transaction.CommitAsync();
        }
        // Notify only after commit, in commit order.
        foreach (var write in writes)
            foreach (var e in write.Events)
                await PublishAsync(e);
        foreach (var write in writes)
            write.Succeed();
    }

    private async ValueTask PublishAsync(RealtimeEvent e)
    {
        try
        {
            await bus.PublishAsync(e);
        }
        catch (Exception error)
        {
            // The write is committed; clients that miss the push catch up with sync.
            logger.LogError(error, "Publishing an event failed");
        }
    }

    private static Exception Translate(Exception e) => e switch
    {
        ApiException or DatabaseUnavailableException => e,
        _ when SqlDialect.IsUniqueViolation(e) => ApiException.Conflict("The conversation is closed and another one with this store is open; write there."),
        _ => e,
    };

    private const string FindByClientIdSql = $"SELECT {MessageRow.Columns} FROM messages WHERE sender_id = @SenderId AND client_msg_id = @ClientMsgId";

    // Also: a customer's message reopens a resolved or pending conversation, and the first message of each side is
    // timed for the SLA clocks; the assignee and watchers come back to address the push.
    private const string TakeSeqSql = """
        UPDATE conversations SET last_seq = last_seq + 1, updated_at = @CreatedAt,
            state = CASE WHEN @Reopen AND state IN ('resolved', 'pending') THEN 'open' ELSE state END,
            first_customer_at = CASE WHEN @fromCustomer AND first_customer_at IS NULL THEN @CreatedAt ELSE first_customer_at END,
            first_response_at = CASE WHEN @fromStaff AND first_response_at IS NULL AND first_customer_at IS NOT NULL THEN @CreatedAt ELSE first_response_at END
        WHERE id = @conversationId
        RETURNING last_seq, state, assignee_id, watcher_ids
        """;

    private const string InsertSql = """
        INSERT INTO messages (id, conversation_id, seq, sender_id, sender_kind, sender_name, client_msg_id, kind, body, created_at)
        VALUES (@Id, @conversationId, @seq, @SenderId, @SenderKind, @SenderName, @ClientMsgId, @Kind, @Body, @CreatedAt)
        ON CONFLICT (sender_id, client_msg_id) DO NOTHING
        RETURNING id
        """;

    private const string WatermarkSql = """
        INSERT INTO conversation_members (conversation_id, user_id, user_kind, is_member, read_seq, delivered_seq, joined_at)
        VALUES (@conversationId, @userId, @userKind, 0, @read, @delivered, @now)
        ON CONFLICT (conversation_id, user_id) DO UPDATE SET
            read_seq = CASE WHEN excluded.read_seq > conversation_members.read_seq THEN excluded.read_seq ELSE conversation_members.read_seq END,
            delivered_seq = CASE WHEN excluded.delivered_seq > conversation_members.delivered_seq THEN excluded.delivered_seq ELSE conversation_members.delivered_seq END
        WHERE excluded.read_seq > conversation_members.read_seq OR excluded.delivered_seq > conversation_members.delivered_seq
        RETURNING read_seq, delivered_seq
        """;

    private async Task ApplyAsync(DbConnection c, DbTransaction t, SendWrite write)
    {
        var m = write.Message;
        var conversationId = m.Conversation.Id;
        if (m.ClientMsgId is not null && await c.QuerySingleOrDefaultAsync<MessageRow>(FindByClientIdSql, m, t) is { } existing)
        {
            write.Result = new SendResult(existing.ToDto(), Created: false);
            return;
        }

        var (seq, state, assignee, watchers) = await c.QuerySingleAsync<(long, string, string?, string)>(TakeSeqSql, new
        {
            m.CreatedAt, m.Reopen, conversationId, fromCustomer = m.SenderKind == "customer", fromStaff = m.SenderKind == "staff",
        }, t);
        var inserted = await c.QuerySingleOrDefaultAsync<string>(InsertSql, new
        {
            m.Id, conversationId, seq, m.SenderId, m.SenderKind, m.SenderName, m.ClientMsgId, m.Kind, m.Body, m.CreatedAt,
        }, t);
        if (inserted is null)
        {
            // Another node stored the same client id between our look-up and our insert: give the seq back
            // (we still hold the conversation's lock, so nobody took a later one) and answer the stored message.
            await c.ExecuteAsync("UPDATE conversations SET last_seq = last_seq - 1 WHERE id = @conversationId", new { conversationId }, t);
            var stored = await c.QuerySingleAsync<MessageRow>(FindByClientIdSql, m, t);
            write.Result = new SendResult(stored.ToDto(), Created: false);
            return;
        }
        if (m.AttachmentId is not null)
            await c.ExecuteAsync("INSERT INTO message_attachments (message_id, attachment_id) VALUES (@Id, @AttachmentId)", m, t);
        // The sender has read what they wrote (the server and bots keep no watermarks).
        if (m.SenderKind is "customer" or "staff")
            await c.QuerySingleOrDefaultAsync<(long, long)?>(WatermarkSql, new
            {
                conversationId, userId = m.SenderId, userKind = m.SenderKind, read = seq, delivered = seq, now = m.CreatedAt,
            }, t);

        var message = new MessageRow
        {
            Id = m.Id, ConversationId = conversationId, Seq = seq, SenderId = m.SenderId, SenderKind = m.SenderKind, SenderName = m.SenderName,
            ClientMsgId = m.ClientMsgId, Kind = m.Kind, Body = m.Body, CreatedAt = m.CreatedAt,
        }.ToDto();
        // WEBHOOKS: message.created into the outbox, in this transaction — one statement (Integrations/Outbox.cs).
        await Integrations.Outbox.MessageCreatedAsync(c, t, m.Conversation, message);
        // The audience as committed: an assignment that changed since the send was checked counts.
        var audience = m.Conversation.Kind == ConversationKinds.Service
            ? m.Conversation.Audience(null, assignee, JsonSerializer.Deserialize<string[]>(watchers) ?? [])
            : m.Audience;
        write.Result = new SendResult(message, Created: true);
        var events = new List<RealtimeEvent> { Frames.MessageEvent(message, audience, m.ExceptConnectionId) };
        if (m.Reopen && state == "open")
        {
            var row = await c.QuerySingleAsync<ConversationRow>($"SELECT {ConversationRow.Columns} FROM conversations WHERE id = @conversationId", new { conversationId }, t);
            events.Add(Frames.ConversationEvent(row.ToPushDto(), audience));
        }
        write.Events = [.. events];
    }

    private async Task ApplyAsync(DbConnection c, DbTransaction t, WatermarkWrite write)
    {
        var w = write.Watermark;
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var moved = await c.QuerySingleOrDefaultAsync<(long Read, long Delivered)?>(WatermarkSql, new
        {
            conversationId = w.Conversation.Id, userId = w.UserId, userKind = w.UserKind, read = w.ReadSeq,
            delivered = Math.Max(w.DeliveredSeq, w.ReadSeq), now,
        }, t);
        var (read, delivered) = moved ?? await c.QuerySingleAsync<(long, long)>(
            "SELECT read_seq, delivered_seq FROM conversation_members WHERE conversation_id = @conversationId AND user_id = @userId",
            new { conversationId = w.Conversation.Id, userId = w.UserId }, t);
        write.Result = new ReceiptDto(w.Conversation.Id, w.UserId, read, delivered);
        if (moved is not null)
            write.Events = [Frames.ReceiptEvent(write.Result, w.Audience, w.ExceptConnectionId)];
    }
}
