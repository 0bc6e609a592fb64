using System.Text.Json;
using System.Text.RegularExpressions;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Workflows;

public sealed record NotificationTemplateRequest(string? Name, Dictionary<string, string>? Text, bool? Urgent);
public sealed record NotificationTemplateDto(string Key, string Name, Dictionary<string, string> Text, bool Urgent, DateTimeOffset UpdatedAt);

/// <summary><c>POST /v1/notifications</c>: the customer by id or by the store system's external id.</summary>
public sealed record SendNotificationRequest(
    string? StoreId, string? CustomerId, string? CustomerExternalId, string? Template, Dictionary<string, JsonElement>? Variables, bool? Urgent);

public sealed record NotificationDto(
    string Id, string StoreId, string CustomerId, string Template, string Text, bool Urgent, string Status,
    DateTimeOffset DueAt, DateTimeOffset CreatedAt, DateTimeOffset? DeliveredAt, string? ConversationId, string? MessageId);

/// <summary>A notification's notice payload: what it says and who sent it to whom.</summary>
public sealed record NotificationPayload(string OrgId, string StoreId, string CustomerId, string TemplateKey, string Text, bool Urgent, string CreatedBy);

/// <summary>
/// Templated notifications from the store's system to a customer ("您的订单 {order_no} 已到店，请凭取件码 {code} 取件"):
/// the organization keeps its templates; a notification is rendered when it is sent, waits for the end of the store's
/// quiet hours unless urgent, and is posted into the customer's service conversation by the notifier.
/// </summary>
public sealed partial class Notifications(Db db, Access access, Notifier notifier, TimeProvider clock)
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1").RequireAuthorization().WithTags("Notifications");
        api.MapGet("/notification-templates", async (CurrentUser user, Notifications n, CancellationToken ct) => TypedResults.Ok(await n.TemplatesAsync(user, ct)));
        api.MapPut("/notification-templates/{key}", async (string key, NotificationTemplateRequest body, CurrentUser user, Notifications n, CancellationToken ct) =>
            TypedResults.Ok(await n.PutTemplateAsync(user, key, body, ct)));
        api.MapDelete("/notification-templates/{key}", async (string key, CurrentUser user, Notifications n, CancellationToken ct) =>
        {
            await n.DeleteTemplateAsync(user, key, ct);
            return TypedResults.NoContent();
        });
        api.MapPost("/notifications", async (SendNotificationRequest body, CurrentUser user, Notifications n, CancellationToken ct) =>
        {
            var sent = await n.SendAsync(user, body, ct);
            return TypedResults.Accepted($"/v1/notifications/{sent.Id}", sent);
        }).WithIdempotency();
        api.MapGet("/notifications/{id}", async (string id, CurrentUser user, Notifications n, CancellationToken ct) => TypedResults.Ok(await n.GetAsync(user, id, ct)));
    }

    [GeneratedRegex("^[a-z0-9_.-]{1,64}$")]
    private static partial Regex KeyPattern();

    [GeneratedRegex(@"\{([a-z0-9_.]{1,64})\}")]
    private static partial Regex Placeholder();

    private static void RequireTemplateManager(CurrentUser user)
    {
        if (user.IsApiClient && user.StoreId is null)
            user.RequirePermission(Permissions.MessagesWrite);
        else if (!user.IsOrgAdmin)
            throw ApiException.Forbidden("Notification templates are managed by org admins and organization-wide API keys with messages:write.");
    }

    public async Task<IReadOnlyList<NotificationTemplateDto>> TemplatesAsync(CurrentUser user, CancellationToken ct)
    {
        if (user.IsCustomer)
            throw ApiException.Forbidden();
        user.RequirePermission(Permissions.MessagesWrite);
        return (await db.QueryAsync<TemplateRow>($"{TemplateRow.Select} WHERE org_id = @orgId ORDER BY template_key", new { orgId = user.OrgId }, ct))
            .Select(r => r.ToDto()).ToList();
    }

    public async Task<NotificationTemplateDto> PutTemplateAsync(CurrentUser user, string key, NotificationTemplateRequest body, CancellationToken ct)
    {
        RequireTemplateManager(user);
        var v = new Validation();
        if (!KeyPattern().IsMatch(key))
            v.Add("key", "1–64 characters: a–z, 0–9, _ . -");
        var name = v.Required("name", body.Name, 100);
        var zh = body.Text?.GetValueOrDefault("zh-CN");
        var en = body.Text?.GetValueOrDefault("en");
        if (string.IsNullOrWhiteSpace(zh) || zh.Length > 1000)
            v.Add("text", "Required: {\"zh-CN\": …} (at most 1,000 characters), and optionally \"en\".");
        if (en is { Length: > 1000 })
            v.Add("text", "\"en\" is at most 1,000 characters.");
        if (body.Text?.Keys.Except(["zh-CN", "en"]).FirstOrDefault() is { } other)
            v.Add("text", $"Languages are zh-CN and en, not {other}.");
        v.ThrowIfAny();

        var row = new TemplateRow
        {
            OrgId = user.OrgId, TemplateKey = key, Name = name, TextZh = zh!.Trim(), TextEn = string.IsNullOrWhiteSpace(en) ? null : en.Trim(),
            Urgent = body.Urgent == true ? 1 : 0, UpdatedAt = clock.GetUtcNow().ToUnixTimeMilliseconds(),
        };
        await db.ExecuteAsync("""
            INSERT INTO notification_templates (org_id, template_key, name, text_zh, text_en, urgent, updated_by, updated_at)
            VALUES (@orgId, @templateKey, @name, @textZh, @textEn, @urgent, @updatedBy, @updatedAt)
            ON CONFLICT (org_id, template_key) DO UPDATE SET name = excluded.name, text_zh = excluded.text_zh, text_en = excluded.text_en,
                urgent = excluded.urgent, updated_by = excluded.updated_by, updated_at = excluded.updated_at
            """, new
            {
                orgId = row.OrgId, templateKey = row.TemplateKey, name = row.Name, textZh = row.TextZh, textEn = row.TextEn, urgent = row.Urgent,
                updatedBy = user.Id, updatedAt = row.UpdatedAt,
            }, ct);
        return row.ToDto();
    }

    public async Task DeleteTemplateAsync(CurrentUser user, string key, CancellationToken ct)
    {
        RequireTemplateManager(user);
        if (await db.ExecuteAsync("DELETE FROM notification_templates WHERE org_id = @orgId AND template_key = @key", new { orgId = user.OrgId, key }, ct) == 0)
            throw ApiException.NotFound("The notification template");
    }

    /// <summary>Checks, renders and schedules the notification; the notifier posts it when it is due.</summary>
    public async Task<NotificationDto> SendAsync(CurrentUser user, SendNotificationRequest body, CancellationToken ct)
    {
        if (user.IsCustomer)
            throw ApiException.Forbidden("Notifications come from the store's staff or its system.");
        var v = new Validation();
        var storeId = v.Required("store_id", body.StoreId, 64);
        var templateKey = v.Required("template", body.Template, 64);
        if ((body.CustomerId is null) == (body.CustomerExternalId is null))
            v.Add("customer_id", "Give customer_id or customer_external_id (the id in your system), one of them.");
        v.ThrowIfAny();
        var store = await access.StoreAsync(user, storeId, ct);
        if (user.IsStaff && !user.HasStoreRole(store.Id, Roles.Manager))
            throw ApiException.Forbidden("Store managers, org admins and API keys with messages:write send notifications.");
        user.RequirePermission(Permissions.MessagesWrite);
        var customer = body.CustomerId is not null
            ? await access.CustomerAsync(user, body.CustomerId, ct)
            : await access.CustomerByExternalIdAsync(user, body.CustomerExternalId!, ct);
        var template = await db.QuerySingleOrDefaultAsync<TemplateRow>($"{TemplateRow.Select} WHERE org_id = @orgId AND template_key = @templateKey",
            new { orgId = user.OrgId, templateKey }, ct) ?? throw ApiException.NotFound("The notification template");

        var english = Texts.LanguageOf(customer.Attributes) == "en" && template.TextEn is not null;
        var text = Render(english ? template.TextEn! : template.TextZh, body.Variables ?? [], customer, store);
        var now = clock.GetUtcNow();
        var urgent = body.Urgent ?? template.Urgent != 0;
        var id = Ids.New("ntf", clock);
        var payload = new NotificationPayload(user.OrgId, store.Id, customer.Id, template.TemplateKey, text, urgent, user.Id);
        await db.InTransactionAsync((c, t) => notifier.ScheduleAsync(c, t, NoticeSubjects.Notification, id, NoticeKinds.Notification,
            Notifier.DueAt(store, now, urgent), payload, id), ct);
        notifier.Kick();
        return ToDto(id, payload, Notifier.DueAt(store, now, urgent), now, null);
    }

    public async Task<NotificationDto> GetAsync(CurrentUser user, string id, CancellationToken ct)
    {
        var notice = id.Length > 64 || user.IsCustomer ? null : await db.QuerySingleOrDefaultAsync<NoticeRow>(
            $"SELECT {NoticeRow.Columns} FROM customer_notices WHERE id = @id AND subject_type = @subjectType",
            new { id, subjectType = NoticeSubjects.Notification }, ct);
        var n = notice?.PayloadAs<NotificationPayload>();
        if (notice is null || n!.OrgId != user.OrgId)
            throw ApiException.NotFound("The notification");
        await access.StoreAsync(user, n.StoreId, ct);
        return ToDto(notice.Id, n, DateTimeOffset.FromUnixTimeMilliseconds(notice.DueAt), DateTimeOffset.FromUnixTimeMilliseconds(notice.CreatedAt),
            notice);
    }

    private static NotificationDto ToDto(string id, NotificationPayload n, DateTimeOffset dueAt, DateTimeOffset createdAt, NoticeRow? notice)
    {
        var delivered = notice is { State: "delivered", DoneAt: { } at } ? DateTimeOffset.FromUnixTimeMilliseconds(at) : (DateTimeOffset?)null;
        return new(id, n.StoreId, n.CustomerId, n.TemplateKey, n.Text, n.Urgent, delivered is null ? "scheduled" : "delivered", dueAt, createdAt,
            delivered, notice?.ConversationId, notice?.MessageId);
    }

    /// <summary>
    /// Fills <c>{name}</c> from the variables, and <c>{customer.name}</c> and <c>{store.name}</c> from StoreLink's data. A placeholder
    /// nobody fills is refused: a customer never reads "{order_no}".
    /// </summary>
    private static string Render(string text, Dictionary<string, JsonElement> variables, CustomerRow customer, StoreRow store)
    {
        var missing = new SortedSet<string>();
        var rendered = Placeholder().Replace(text, m =>
        {
            var name = m.Groups[1].Value;
            if (variables.TryGetValue(name, out var value) && value.ValueKind is JsonValueKind.String or JsonValueKind.Number)
                return value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
            if (name == "customer.name")
                return CustomerNames.Display(customer.Id, customer.Name, Texts.LanguageOf(customer.Attributes));
            if (name == "store.name")
                return store.Name;
            missing.Add(name);
            return m.Value;
        });
        if (missing.Count > 0)
            throw new ApiException(ErrorCodes.Unprocessable, $"The template needs the variables {string.Join(", ", missing)} (strings or numbers).",
                new Dictionary<string, string[]> { ["variables"] = [.. missing] });
        if (rendered.Length > 2000)
            throw new ApiException(ErrorCodes.TooLarge, "The rendered notification is longer than 2,000 characters.");
        return rendered;
    }

    private sealed class TemplateRow
    {
        public const string Select = "SELECT org_id, template_key, name, text_zh, text_en, urgent, updated_at FROM notification_templates";

        public string OrgId { get; set; } = "";
        public string TemplateKey { get; set; } = "";
        public string Name { get; set; } = "";
        public string TextZh { get; set; } = "";
        public string? TextEn { get; set; }
        public long Urgent { get; set; }
        public long UpdatedAt { get; set; }

        public NotificationTemplateDto ToDto() => new(TemplateKey, Name,
            TextEn is null ? new() { ["zh-CN"] = TextZh } : new() { ["zh-CN"] = TextZh, ["en"] = TextEn }, Urgent != 0, DateTimeOffset.FromUnixTimeMilliseconds(UpdatedAt));
    }
}
