using System.Text.Json;
using System.Text.RegularExpressions;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Workflows;

/// <summary>
/// "Chat to work item in one step": a prefilled <see cref="CreateWorkItemRequest"/> from what the customer wrote —
/// phone numbers, order numbers, device brand and model, a category guessed from their words, a description from
/// their recent messages, the transcript range and the attachments they sent. The agent edits it and posts it.
/// </summary>
public sealed partial class Drafts(Db db, Access access, Templates templates)
{
    public const int Window = 50;

    public async Task<CreateWorkItemRequest> DraftAsync(CurrentUser user, string conversationId, string? kind, CancellationToken ct)
    {
        var conversation = await access.ConversationAsync(user, conversationId, ct);
        Access.RequireStaff(user);
        if (conversation.Facts.Kind != ConversationKinds.Service)
            throw ApiException.Invalid("Work items are made from service conversations.");
        var template = await templates.DefaultAsync(user.OrgId, kind ?? "ticket", ct);
        var definition = (await templates.DefinitionAsync(template.Id, (int)template.CurrentVersion, ct))!;

        var messages = (await db.QueryAsync<MessageRow>($"""
            SELECT {MessageRow.Columns} FROM messages WHERE conversation_id = @conversationId AND recalled_at IS NULL ORDER BY seq DESC LIMIT {Window}
            """, new { conversationId }, ct)).Reverse().ToList();
        var fromCustomer = messages.Where(m => m.SenderKind == "customer").ToList();
        var texts = fromCustomer.Where(m => m.Kind == MessageKinds.Text)
            .Select(m => JsonDocument.Parse(m.Body!).RootElement.GetProperty("text").GetString()!).ToList();
        var all = string.Join("\n", texts);

        var phones = Phone().Matches(all).Select(m => m.Value).Distinct().ToList();
        var orders = OrderNumber().Matches(all).Select(m => m.Value).Distinct().ToList();
        var device = Device().Match(all);
        var category = WorkItemActions.Guess(definition, all);
        var description = string.Join("\n", texts.TakeLast(5));
        if (description.Length > 2000)
            description = description[^2000..];
        var model = device.Success ? device.Value.Trim() : null;
        var title = string.Join(" ", new[] { model, category?.Label }.OfType<string>());
        if (title.Length == 0)
            title = texts.LastOrDefault() is { } last ? (last.Length > 60 ? last[..60] + "…" : last) : Texts.Get(user.Language, "draft_title");

        var fields = new Dictionary<string, JsonElement>();
        if (phones.Count > 0)
            fields["phones"] = JsonSerializer.SerializeToElement(phones);
        if (orders.Count > 0)
            fields["order_numbers"] = JsonSerializer.SerializeToElement(orders);
        if (device.Success)
        {
            fields["device_brand"] = JsonSerializer.SerializeToElement(Brand(device.Groups["brand"].Value));
            fields["device_model"] = JsonSerializer.SerializeToElement(model);
        }
        var attachments = fromCustomer.Where(m => m.Kind is MessageKinds.Image or MessageKinds.Video or MessageKinds.File or MessageKinds.Voice)
            .Select(m => JsonDocument.Parse(m.Body!).RootElement.GetProperty("attachment_id").GetString()!).Distinct().ToList();
        return new CreateWorkItemRequest(conversation.Facts.StoreId, null, template.Kind, template.Id, conversation.Facts.CustomerId, conversationId, title,
            description.Length == 0 ? null : description, category?.Key, "normal", fields, attachments,
            fromCustomer.FirstOrDefault()?.Seq, messages.LastOrDefault()?.Seq, null, null, null, null);
    }

    private static string Brand(string name) => name.ToLowerInvariant() switch
    {
        "iphone" or "ipad" or "macbook" or "airpods" or "apple" or "苹果" => "Apple",
        "华为" or "huawei" or "mate" => "华为",
        "荣耀" or "honor" => "荣耀",
        "小米" or "xiaomi" or "redmi" or "红米" => "小米",
        "三星" or "samsung" or "galaxy" => "三星",
        "oppo" => "OPPO",
        "vivo" => "vivo",
        _ => name,
    };

    /// <summary>A mainland mobile number.</summary>
    [GeneratedRegex(@"(?<!\d)1[3-9]\d{9}(?!\d)")]
    private static partial Regex Phone();

    /// <summary>Order numbers such as SO-20261020-0107 or JD20261101123.</summary>
    [GeneratedRegex(@"(?<![A-Za-z0-9])[A-Z]{1,4}-?\d{6,}(?:-\d{1,6})?(?![A-Za-z0-9])")]
    private static partial Regex OrderNumber();

    /// <summary>A brand, optionally followed by a model: iPhone 16 Pro, 华为 Mate 70, 小米 14 Ultra, MacBook Air.</summary>
    [GeneratedRegex(@"(?<brand>iPhone|iPad|MacBook|AirPods|苹果|华为|HUAWEI|Huawei|荣耀|Honor|小米|Xiaomi|Redmi|红米|OPPO|vivo|三星|Samsung|Galaxy)(?:\s*(?:Mate|P|Pura|Nova|Find|Reno|Note|S|Z|X|Air|Pro)?\s*\d{0,3}(?:\s?(?:Pro\+|Pro|Max|Plus|Ultra|mini|Air|RS))*)?",
        RegexOptions.IgnoreCase)]
    private static partial Regex Device();
}
