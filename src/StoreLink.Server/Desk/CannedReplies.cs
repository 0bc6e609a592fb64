using Dapper;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Desk;

/// <summary>
/// A prepared answer of a store. <see cref="Text"/> is set when listed for a conversation: the body with
/// <c>{customer.name}</c>, <c>{store.name}</c> and <c>{agent.name}</c> filled in.
/// </summary>
public sealed record CannedReplyDto(string Id, string StoreId, string Shortcut, string Title, string Body, DateTimeOffset UpdatedAt, string? Text = null);

/// <summary><c>POST /v1/stores/{id}/canned-replies</c>, <c>PATCH /v1/canned-replies/{id}</c> (managers).</summary>
public sealed record CannedReplyRequest(string? Shortcut, string? Title, string? Body);

public sealed class CannedReplyRow
{
    public const string Columns = "id, store_id, shortcut, title, body, created_at, updated_at";

    public string Id { get; set; } = "";
    public string StoreId { get; set; } = "";
    public string Shortcut { get; set; } = "";
    public string Title { get; set; } = "";
    public string Body { get; set; } = "";
    public long CreatedAt { get; set; }
    public long UpdatedAt { get; set; }

    public CannedReplyDto ToDto(string? text = null) => new(Id, StoreId, Shortcut, Title, Body, DateTimeOffset.FromUnixTimeMilliseconds(UpdatedAt), text);
}

/// <summary>Canned replies: every staff member of a store reads and searches them, its managers write them.</summary>
public sealed partial class CannedReplies(Db db, Access access, TimeProvider clock)
{
    public const int MaxPerStore = 500;

    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1").RequireAuthorization().WithTags("Desk");
        api.MapGet("/stores/{id}/canned-replies", async (string id, string? q, CurrentUser user, CannedReplies replies, CancellationToken ct) =>
            TypedResults.Ok(await replies.ListAsync(user, id, q, ct)));
        api.MapPost("/stores/{id}/canned-replies", async (string id, CannedReplyRequest body, CurrentUser user, CannedReplies replies, CancellationToken ct) =>
        {
            var reply = await replies.CreateAsync(user, id, body, ct);
            return TypedResults.Created($"/v1/canned-replies/{reply.Id}", reply);
        });
        api.MapPatch("/canned-replies/{id}", async (string id, CannedReplyRequest body, CurrentUser user, CannedReplies replies, CancellationToken ct) =>
            TypedResults.Ok(await replies.UpdateAsync(user, id, body, ct)));
        api.MapDelete("/canned-replies/{id}", async (string id, CurrentUser user, CannedReplies replies, CancellationToken ct) =>
        {
            await replies.DeleteAsync(user, id, ct);
            return TypedResults.NoContent();
        });
        api.MapGet("/conversations/{id}/canned-replies", async (string id, string? q, CurrentUser user, CannedReplies replies, CancellationToken ct) =>
            TypedResults.Ok(await replies.ForConversationAsync(user, id, q, ct)));
    }

    public async Task<IReadOnlyList<CannedReplyDto>> ListAsync(CurrentUser user, string storeId, string? q, CancellationToken ct)
    {
        var store = await access.StoreAsync(user, storeId, ct);
        Access.RequireStaff(user);
        return (await SearchAsync(store.Id, q, ct)).Select(r => r.ToDto()).ToList();
    }

    /// <summary>The store's replies for one conversation, each with its variables filled in.</summary>
    public async Task<IReadOnlyList<CannedReplyDto>> ForConversationAsync(CurrentUser user, string conversationId, string? q, CancellationToken ct)
    {
        var conversation = await access.ConversationAsync(user, conversationId, ct);
        Access.RequireStaff(user);
        if (conversation.Facts.StoreId is not { } storeId)
            throw ApiException.Invalid("Canned replies belong to the conversations of a store.");
        var customerId = conversation.Facts.CustomerId
            ?? await db.QuerySingleOrDefaultAsync<string>("SELECT customer_id FROM conversations WHERE id = @parentId", new { parentId = conversation.Facts.ParentId }, ct);
        var customer = await db.QuerySingleOrDefaultAsync<(string? Name, string? Attributes)>("SELECT name, attributes FROM customers WHERE id = @customerId", new { customerId }, ct);
        var store = await db.QuerySingleOrDefaultAsync<string>("SELECT name FROM stores WHERE id = @storeId", new { storeId }, ct) ?? "";
        var values = new Dictionary<string, string>
        {
            ["{customer.name}"] = customerId is null ? "" : CustomerNames.Display(customerId, customer.Name, Texts.LanguageOf(customer.Attributes)), // the reply is for the customer,
            ["{store.name}"] = store,
            ["{agent.name}"] = user.Name,
        };
        return (await SearchAsync(storeId, q, ct)).Select(r => r.ToDto(Render(r.Body, values))).ToList();
    }

    public static string Render(string body, IReadOnlyDictionary<string, string> values) =>
        values.Aggregate(body, (text, v) => text.Replace(v.Key, v.Value, StringComparison.Ordinal));

    public async Task<CannedReplyDto> CreateAsync(CurrentUser user, string storeId, CannedReplyRequest body, CancellationToken ct)
    {
        var store = await access.StoreAsync(user, storeId, ct);
        RequireManager(user, store.Id);
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var row = new CannedReplyRow { Id = Ids.New("cnr", clock), StoreId = store.Id, CreatedAt = now, UpdatedAt = now };
        Apply(row, body, creating: true);
        var count = await db.QuerySingleOrDefaultAsync<long>("SELECT COUNT(*) FROM canned_replies WHERE store_id = @storeId", new { storeId = store.Id }, ct);
        if (count >= MaxPerStore)
            throw ApiException.Conflict(Texts.Get(user.Language, "canned_limit", ("max", $"{MaxPerStore}")));
        await WriteAsync(user, $"INSERT INTO canned_replies ({CannedReplyRow.Columns}) VALUES (@Id, @StoreId, @Shortcut, @Title, @Body, @CreatedAt, @UpdatedAt)", row, ct);
        return row.ToDto();
    }

    public async Task<CannedReplyDto> UpdateAsync(CurrentUser user, string replyId, CannedReplyRequest body, CancellationToken ct)
    {
        var row = await ReplyAsync(user, replyId, ct);
        RequireManager(user, row.StoreId);
        Apply(row, body, creating: false);
        row.UpdatedAt = clock.GetUtcNow().ToUnixTimeMilliseconds();
        await WriteAsync(user, "UPDATE canned_replies SET shortcut = @Shortcut, title = @Title, body = @Body, updated_at = @UpdatedAt WHERE id = @Id", row, ct);
        return row.ToDto();
    }

    public async Task DeleteAsync(CurrentUser user, string replyId, CancellationToken ct)
    {
        var row = await ReplyAsync(user, replyId, ct);
        RequireManager(user, row.StoreId);
        await db.ExecuteAsync("DELETE FROM canned_replies WHERE id = @id", new { id = row.Id }, ct);
    }

    /// <summary>Shortcuts that start with <paramref name="q"/> first, then titles and bodies that contain it.</summary>
    private async Task<IReadOnlyList<CannedReplyRow>> SearchAsync(string storeId, string? q, CancellationToken ct)
    {
        var rows = await db.QueryAsync<CannedReplyRow>($"SELECT {CannedReplyRow.Columns} FROM canned_replies WHERE store_id = @storeId ORDER BY shortcut, id", new { storeId }, ct);
        var term = q?.Trim().TrimStart('/');
        if (string.IsNullOrEmpty(term))
            return rows.ToList();
        return rows.Where(r => r.Shortcut.StartsWith(term, StringComparison.OrdinalIgnoreCase))
            .Concat(rows.Where(r => !r.Shortcut.StartsWith(term, StringComparison.OrdinalIgnoreCase) &&
                (r.Title.Contains(term, StringComparison.OrdinalIgnoreCase) || Variable().Replace(r.Body, "").Contains(term, StringComparison.OrdinalIgnoreCase))))
            .ToList();
    }

    private async Task<CannedReplyRow> ReplyAsync(CurrentUser user, string replyId, CancellationToken ct)
    {
        var row = replyId.Length > 64 ? null
            : await db.QuerySingleOrDefaultAsync<CannedReplyRow>($"SELECT {CannedReplyRow.Columns} FROM canned_replies WHERE id = @replyId", new { replyId }, ct);
        if (row is null)
            throw ApiException.NotFound("The canned reply");
        await access.StoreAsync(user, row.StoreId, ct); // another organization's or store's reply is as good as missing
        return row;
    }

    private async Task WriteAsync(CurrentUser user, string sql, CannedReplyRow row, CancellationToken ct)
    {
        try
        {
            await db.ExecuteAsync(sql, row, ct);
        }
        catch (Exception e) when (SqlDialect.IsUniqueViolation(e))
        {
            throw ApiException.Conflict(Texts.Get(user.Language, "canned_shortcut_taken", ("shortcut", row.Shortcut)));
        }
    }

    private static void Apply(CannedReplyRow row, CannedReplyRequest body, bool creating)
    {
        var errors = new Validation();
        if (creating || body.Shortcut is not null)
        {
            var shortcut = body.Shortcut?.Trim().TrimStart('/') ?? "";
            if (shortcut.Length is 0 or > 30 || shortcut.Any(char.IsWhiteSpace))
                errors.Add("shortcut", "Required: 1 to 30 characters without spaces (typed after / in the composer).");
            row.Shortcut = shortcut;
        }
        if (creating || body.Title is not null)
        {
            var title = body.Title?.Trim() ?? "";
            if (title.Length is 0 or > 100)
                errors.Add("title", "Required: 1 to 100 characters.");
            row.Title = title;
        }
        if (creating || body.Body is not null)
        {
            var text = body.Body?.Trim() ?? "";
            if (text.Length is 0 or > 5000)
                errors.Add("body", "Required: 1 to 5000 characters; {customer.name}, {store.name} and {agent.name} are filled in when used.");
            row.Body = text;
        }
        errors.ThrowIfAny();
    }

    /// <summary>A placeholder such as <c>{store.name}</c>: not part of what a search matches.</summary>
    [System.Text.RegularExpressions.GeneratedRegex(@"\{[a-z]+\.[a-z]+\}")]
    private static partial System.Text.RegularExpressions.Regex Variable();

    private static void RequireManager(CurrentUser user, string storeId)
    {
        if (!user.HasStoreRole(storeId, Roles.Manager))
            throw ApiException.Forbidden("Only the store's managers edit its canned replies.");
    }
}
