using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Http;
using StoreLink.Server.Realtime;

namespace StoreLink.Server.Desk;

/// <summary><c>POST /v1/conversations/{id}/csat</c> (the customer).</summary>
public sealed record CsatRequest(int? Rating, string? Comment);

/// <summary>A customer's rating of one resolution of a conversation, credited to the agent who served it.</summary>
public sealed record CsatDto(string ConversationId, string? AgentId, int Rating, string? Comment, DateTimeOffset ResolvedAt, DateTimeOffset CreatedAt);

/// <summary>
/// Customer satisfaction: resolving a service conversation posts a rating card into it; the customer answers with
/// 1 to 5 and an optional comment, once per resolution (rating again before the next resolution changes it).
/// </summary>
public sealed class Csat(Db db, Access access, SystemPosts posts, Integrations.Outbox outbox, IEventBus bus, TimeProvider clock)
{
    public const string CardType = "csat";
    public const int MaxComment = 500;

    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/conversations/{id}/csat").RequireAuthorization().WithTags("Desk");
        api.MapPost("", async (string id, CsatRequest body, CurrentUser user, Csat csat, CancellationToken ct) =>
            TypedResults.Ok(await csat.RateAsync(user, id, body, ct)));
        api.MapGet("", async (string id, CurrentUser user, Csat csat, CancellationToken ct) =>
            TypedResults.Ok(await csat.ListAsync(user, id, ct)));
    }

    /// <summary>The rating card, sent when a conversation is resolved.</summary>
    public async Task SendCardAsync(ConversationFacts facts, CancellationToken ct)
    {
        var agent = await db.QuerySingleOrDefaultAsync<string>(
            "SELECT s.name FROM conversations c JOIN staff s ON s.id = c.assignee_id WHERE c.id = @id", new { id = facts.Id }, ct);
        var language = await posts.LanguageAsync(facts, ct);
        await posts.PostAsync(facts, MessageKinds.Card, new
        {
            title = Texts.Get(language, "csat_title"),
            fields = agent is null ? Array.Empty<object>() : [new { label = Texts.Get(language, "csat_agent"), value = agent }],
            actions = Enumerable.Range(1, 5).Select(n => new { id = $"csat:{n}", label = $"{n}" }).ToArray(),
            @ref = new { type = CardType, id = facts.Id },
        }, ct);
    }

    public async Task<CsatDto> RateAsync(CurrentUser user, string conversationId, CsatRequest body, CancellationToken ct)
    {
        var conversation = await access.ConversationAsync(user, conversationId, ct);
        if (!user.IsCustomer || conversation.Facts.Kind != ConversationKinds.Service)
            throw ApiException.Forbidden("Only the customer rates a service conversation.");
        var errors = new Validation();
        if (body.Rating is not (>= 1 and <= 5))
            errors.Add("rating", "Required: 1 (poor) to 5 (excellent).");
        var comment = errors.MaxLength("comment", body.Comment, MaxComment);
        errors.ThrowIfAny();

        var (state, resolvedAt, assigneeId, storeId) = await db.QuerySingleOrDefaultAsync<(string, long?, string?, string)>(
            "SELECT state, resolved_at, assignee_id, store_id FROM conversations WHERE id = @conversationId", new { conversationId }, ct);
        if (state != "resolved" || resolvedAt is null)
            throw ApiException.Conflict(Texts.Get(user.Language, "csat_not_resolved"));
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var args = new { conversationId, resolvedAt, storeId, assigneeId, rating = body.Rating, comment, now };
        // One row per resolution; a double tap or a second device inserts nothing and updates the same row.
        var rating = new CsatDto(conversationId, assigneeId, body.Rating!.Value, comment,
            DateTimeOffset.FromUnixTimeMilliseconds(resolvedAt.Value), DateTimeOffset.FromUnixTimeMilliseconds(now));
        var first = await db.InTransactionAsync(async (c, t) =>
        {
            var first = await c.ExecuteAsync("""
                INSERT INTO csat_ratings (conversation_id, resolved_at, store_id, agent_id, rating, comment, created_at)
                VALUES (@conversationId, @resolvedAt, @storeId, @assigneeId, @rating, @comment, @now)
                ON CONFLICT (conversation_id, resolved_at) DO NOTHING
                """, args, t) > 0;
            if (!first)
                await c.ExecuteAsync("""
                    UPDATE csat_ratings SET rating = @rating, comment = @comment, created_at = @now
                    WHERE conversation_id = @conversationId AND resolved_at = @resolvedAt
                    """, args, t);
            await outbox.EnqueueAsync(c, t, WebhookEventTypes.CsatGiven, conversation.Facts.OrgId, storeId, new { rating }, now);
            return first;
        }, ct);
        if (first)
            await posts.PostSystemAsync(conversation.Facts, language => Texts.Get(language, "csat_thanks"), ct);
        // The agent and the store's managers see the rating arrive.
        await bus.PublishAsync(new RealtimeEvent(RealtimeEventKind.Push,
            new Audience(assigneeId is null ? [] : [assigneeId], ManagersOf: storeId, OrgAdminsOf: conversation.Facts.OrgId),
            Frames.Serialize(new { type = "csat", rating })), ct);
        return rating;
    }

    /// <summary>Every rating of a conversation, newest first (staff); the customer sees their own too.</summary>
    public async Task<IReadOnlyList<CsatDto>> ListAsync(CurrentUser user, string conversationId, CancellationToken ct)
    {
        var conversation = await access.ConversationAsync(user, conversationId, ct);
        if (conversation.Facts.Kind != ConversationKinds.Service)
            throw ApiException.Invalid("Only service conversations are rated.");
        var rows = await db.QueryAsync<(string? AgentId, int Rating, string? Comment, long ResolvedAt, long CreatedAt)>(
            "SELECT agent_id, rating, comment, resolved_at, created_at FROM csat_ratings WHERE conversation_id = @conversationId ORDER BY resolved_at DESC",
            new { conversationId }, ct);
        return rows.Select(r => new CsatDto(conversationId, r.AgentId, r.Rating, r.Comment,
            DateTimeOffset.FromUnixTimeMilliseconds(r.ResolvedAt), DateTimeOffset.FromUnixTimeMilliseconds(r.CreatedAt))).ToList();
    }
}
