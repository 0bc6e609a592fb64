using StoreLink.Protocol;
using StoreLink.Server.Conversations;
using StoreLink.Server.Data;
using StoreLink.Server.Http;

namespace StoreLink.Server.Accounts;

/// <summary>
/// Every lookup of an object by id goes through here. An object the caller may not see answers
/// <c>not_found</c>, exactly as one that does not exist, so ids of other organizations, stores and
/// customers reveal nothing. Each rule is a conditional on its own line.
/// </summary>
public sealed class Access(Db db, ConversationDirectory conversations)
{
    public async Task<StoreRow> StoreAsync(CurrentUser user, string storeId, CancellationToken ct)
    {
        var store = await db.QuerySingleOrDefaultAsync<StoreRow>(StoreRow.SelectById, new { id = storeId }, ct);
        if (store is null)
            throw ApiException.NotFound("The store");
        if (!CanSeeStore(user, store))
            throw ApiException.NotFound("The store");
        return store;
    }

    public static bool CanSeeStore(CurrentUser user, StoreRow store)
    {
        if (store.OrgId != user.OrgId)
            return false;
        return SeesStore(user, store.Id);
    }

    /// <summary>
    /// The one rule of which stores of their organization a caller sees, for lists: null for every store (org
    /// admins, organization-wide API keys); else the stores a staff member holds a role in (maybe none), or a scoped
    /// key's store. Customers see no store as such: what they see is filtered by customer.
    /// </summary>
    public static string[]? VisibleStores(CurrentUser user)
    {
        if (user.IsOrgAdmin)
            return null;
        if (user.IsStaff)
            return user.StoreIds.ToArray();
        if (user.IsApiClient)
            return user.StoreId is null ? null : [user.StoreId];
        return [];
    }

    /// <summary>
    /// The rows of a store's table (work items, appointments) a caller may list, as conditions over <c>org_id</c>,
    /// <c>customer_id</c> and <c>store_id</c> with the parameters <c>@orgId</c>, <c>@me</c>, <c>@storeId</c> and
    /// <c>@stores</c> (<see cref="VisibleStores"/>): a customer's own; one store the caller may see
    /// (<paramref name="storeId"/>, checked); else the visible stores, in the query itself, so a limit counts visible rows.
    /// </summary>
    public async Task<List<string>> ListScopeAsync(CurrentUser user, string? storeId, CancellationToken ct)
    {
        var where = new List<string> { "org_id = @orgId" };
        if (user.IsCustomer)
            where.Add("customer_id = @me");
        else if (storeId is not null)
        {
            await StoreAsync(user, storeId, ct);
            where.Add("store_id = @storeId");
        }
        else if (VisibleStores(user) is not null)
            where.Add(db.Dialect.In("store_id", "@stores"));
        return where;
    }

    /// <summary>Whether a store of the caller's organization is one of <see cref="VisibleStores"/>.</summary>
    public static bool SeesStore(CurrentUser user, string? storeId) =>
        VisibleStores(user) is not { } stores || (storeId is not null && stores.Contains(storeId));

    /// <summary>A store by its public key, for anyone (widgets are anonymous until they get a token).</summary>
    public async Task<StoreRow> StoreByKeyAsync(string? storeKey, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(storeKey) || storeKey.Length > 64)
            throw ApiException.NotFound("The store");
        return await db.QuerySingleOrDefaultAsync<StoreRow>(StoreRow.SelectByKey, new { key = storeKey.Trim() }, ct)
            ?? throw ApiException.NotFound("The store");
    }

    public async Task<CustomerRow> CustomerAsync(CurrentUser user, string customerId, CancellationToken ct)
    {
        var customer = await db.QuerySingleOrDefaultAsync<CustomerRow>(CustomerRow.SelectById, new { id = customerId }, ct);
        if (customer is null)
            throw ApiException.NotFound("The customer");
        if (customer.OrgId != user.OrgId)
            throw ApiException.NotFound("The customer");
        if (user.IsCustomer && user.Id != customer.Id)
            throw ApiException.NotFound("The customer");
        user.RequirePermission(Permissions.CustomersRead);
        return customer;
    }

    /// <summary>A customer by the id the store's system gives them (<c>external_id</c>).</summary>
    public async Task<CustomerRow> CustomerByExternalIdAsync(CurrentUser user, string externalId, CancellationToken ct)
    {
        var customer = externalId.Length > 100 ? null
            : await db.QuerySingleOrDefaultAsync<CustomerRow>(CustomerRow.SelectByExternalId, new { orgId = user.OrgId, externalId }, ct);
        if (customer is null)
            throw ApiException.NotFound("The customer");
        if (user.IsCustomer && user.Id != customer.Id)
            throw ApiException.NotFound("The customer");
        user.RequirePermission(Permissions.CustomersRead);
        return customer;
    }

    public async Task<StaffRow> StaffAsync(CurrentUser user, string staffId, CancellationToken ct)
    {
        var staff = await db.QuerySingleOrDefaultAsync<StaffRow>(StaffRow.SelectById, new { id = staffId }, ct);
        if (staff is null)
            throw ApiException.NotFound("The staff member");
        if (staff.OrgId != user.OrgId)
            throw ApiException.NotFound("The staff member");
        if (!user.IsStaff)
            throw ApiException.NotFound("The staff member");
        return staff;
    }

    public async Task<ApiClientRow> ApiClientAsync(CurrentUser user, string apiClientId, CancellationToken ct)
    {
        var client = await db.QuerySingleOrDefaultAsync<ApiClientRow>(ApiClientRow.SelectById, new { id = apiClientId }, ct);
        if (client is null)
            throw ApiException.NotFound("The API client");
        if (client.OrgId != user.OrgId)
            throw ApiException.NotFound("The API client");
        if (!user.IsOrgAdmin)
            throw ApiException.NotFound("The API client");
        return client;
    }

    /// <summary>
    /// A conversation the caller may see: the customer of a service conversation; staff with a role in the store of
    /// a service or notes conversation (org admins in every store); the members of a direct or group conversation.
    /// </summary>
    public async Task<ConversationAccess> ConversationAsync(CurrentUser user, string conversationId, CancellationToken ct)
    {
        var facts = await conversations.FactsAsync(conversationId, ct);
        if (facts is null)
            throw ApiException.NotFound("The conversation");
        if (facts.OrgId != user.OrgId)
            throw ApiException.NotFound("The conversation");
        if (facts.IsStoreConversation)
        {
            if (user.IsCustomer && facts.Kind == ConversationKinds.Service && facts.CustomerId == user.Id)
                return await WithDeskStateAsync(facts, ct);
            if (user.IsStaff && SeesStore(user, facts.StoreId))
                return await WithDeskStateAsync(facts, ct);
            throw ApiException.NotFound("The conversation");
        }
        if (!user.IsStaff)
            throw ApiException.NotFound("The conversation");
        var members = await conversations.MembersAsync(facts.Id, ct);
        if (!members.Contains(user.Id))
            throw ApiException.NotFound("The conversation");
        return new ConversationAccess(facts, members);
    }

    /// <summary>
    /// A service conversation for an API key: one of its organization (of its store, when the key is scoped to one),
    /// with the permission the call needs. Notes, direct and group conversations never leave the staff.
    /// </summary>
    public async Task<ConversationAccess> IntegrationConversationAsync(CurrentUser user, string conversationId, string permission, CancellationToken ct)
    {
        var facts = conversationId.Length > 64 ? null : await conversations.FactsAsync(conversationId, ct);
        if (facts is null)
            throw ApiException.NotFound("The conversation");
        if (!user.IsApiClient || facts.OrgId != user.OrgId)
            throw ApiException.NotFound("The conversation");
        if (facts.Kind != ConversationKinds.Service)
            throw ApiException.NotFound("The conversation");
        if (!SeesStore(user, facts.StoreId))
            throw ApiException.NotFound("The conversation");
        user.RequirePermission(permission);
        return await WithDeskStateAsync(facts, ct);
    }

    private async Task<ConversationAccess> WithDeskStateAsync(ConversationFacts facts, CancellationToken ct)
    {
        if (facts.Kind != ConversationKinds.Service)
            return new ConversationAccess(facts, null);
        // Read on every send: a statement kept compiled (Db.ReadPreparedAsync), not a pooled open and a parse each time.
        var (assignee, watchers, state) = await db.ReadPreparedAsync(DeskStateSql, [facts.Id], rows => rows.Read()
            ? (rows.IsDBNull(0) ? null : rows.GetString(0), rows.IsDBNull(1) ? null : rows.GetString(1), rows.IsDBNull(2) ? null : rows.GetString(2))
            : default((string?, string?, string?)), ct);
        return new ConversationAccess(facts, null, assignee, ConversationRow.ParseWatchers(watchers), state);
    }

    private const string DeskStateSql = "SELECT assignee_id, watcher_ids, state FROM conversations WHERE id = @p0";

    /// <summary>A message of a conversation the caller may see.</summary>
    public async Task<(MessageRow Message, ConversationAccess Conversation)> MessageAsync(CurrentUser user, string messageId, CancellationToken ct)
    {
        var message = messageId.Length > 64 ? null
            : await db.QuerySingleOrDefaultAsync<MessageRow>($"SELECT {MessageRow.Columns} FROM messages WHERE id = @messageId", new { messageId }, ct);
        if (message is null)
            throw ApiException.NotFound("The message");
        return (message, await ConversationAsync(user, message.ConversationId, ct));
    }

    /// <summary>
    /// A call: whoever may see its conversation (its participants are members of it). API keys take no part in calls
    /// (<c>forbidden</c>, which depends on the key alone and so tells nothing of the call).
    /// </summary>
    public async Task<(Calls.CallRow Call, ConversationAccess Conversation)> CallAsync(CurrentUser user, string callId, CancellationToken ct)
    {
        RequireCallParty(user);
        var call = callId.Length > 64 ? null
            : await db.QuerySingleOrDefaultAsync<Calls.CallRow>($"SELECT {Calls.CallRow.Columns} FROM calls WHERE id = @callId", new { callId }, ct);
        if (call is null)
            throw ApiException.NotFound("The call");
        if (call.OrgId != user.OrgId)
            throw ApiException.NotFound("The call");
        try
        {
            return (call, await ConversationAsync(user, call.ConversationId, ct));
        }
        catch (ApiException e) when (e.Code == ErrorCodes.NotFound)
        {
            throw ApiException.NotFound("The call");
        }
    }

    /// <summary>Customers and staff take part in calls; API keys do not (<c>forbidden</c>).</summary>
    public static void RequireCallParty(CurrentUser user)
    {
        if (user.IsApiClient)
            throw ApiException.Forbidden("API keys take no part in calls; webhooks (call.started, call.ended) report them.");
    }

    /// <summary>
    /// Whether a staff member of the caller's organization may see a conversation the caller sees: a role in its store
    /// (org admins: every store) for a store's conversation, membership for a direct or group one.
    /// </summary>
    public async Task<bool> StaffSeesAsync(StaffRow staff, ConversationAccess conversation, CancellationToken ct)
    {
        if (staff.OrgId != conversation.Facts.OrgId)
            return false;
        if (!conversation.Facts.IsStoreConversation)
            return (conversation.Members ?? await conversations.MembersAsync(conversation.Facts.Id, ct)).Contains(staff.Id);
        return await db.QuerySingleOrDefaultAsync<long>(
            "SELECT COUNT(*) FROM staff_roles WHERE staff_id = @staffId AND (store_id = @storeId OR role = 'org_admin')",
            new { staffId = staff.Id, storeId = conversation.Facts.StoreId }, ct) > 0;
    }

    /// <summary>
    /// An attachment is served to its uploader until a message references it, then to whoever may see a
    /// message that references it and is not recalled.
    /// </summary>
    public async Task<AttachmentRow> AttachmentAsync(CurrentUser user, string attachmentId, CancellationToken ct)
    {
        var attachment = attachmentId.Length > 64 ? null
            : await db.QuerySingleOrDefaultAsync<AttachmentRow>($"SELECT {AttachmentRow.Columns} FROM attachments WHERE id = @attachmentId", new { attachmentId }, ct);
        if (attachment is null)
            throw ApiException.NotFound("The attachment");
        if (attachment.OrgId != user.OrgId)
            throw ApiException.NotFound("The attachment");
        var references = await db.QueryAsync<(string ConversationId, long? RecalledAt)>(
            "SELECT m.conversation_id, m.recalled_at FROM message_attachments a JOIN messages m ON m.id = a.message_id WHERE a.attachment_id = @attachmentId",
            new { attachmentId }, ct);
        if (references.Count == 0 && attachment.UploaderId == user.Id)
            return attachment;
        foreach (var reference in references.Where(r => r.RecalledAt is null))
        {
            try
            {
                await ConversationAsync(user, reference.ConversationId, ct);
                return attachment;
            }
            catch (ApiException e) when (e.Code == ErrorCodes.NotFound)
            {
            }
        }
        throw ApiException.NotFound("The attachment");
    }

    /// <summary>
    /// A work item: staff with a role in its store (org admins: all), API clients of its organization (and store, when
    /// scoped) with <c>work_items:read</c>, and its own customer. <paramref name="workItemId"/> is its id, or
    /// <c>ext:{system}:{external_id}</c> — the reference the store's system gave it, within the caller's organization.
    /// </summary>
    public async Task<Workflows.WorkItemRow> WorkItemAsync(CurrentUser user, string workItemId, CancellationToken ct)
    {
        var item = workItemId.StartsWith(ExternalRefPrefix, StringComparison.Ordinal) ? await WorkItemByRefAsync(user, workItemId, ct)
            : workItemId.Length > 64 ? null
            : await db.QuerySingleOrDefaultAsync<Workflows.WorkItemRow>($"SELECT {Workflows.WorkItemRow.Columns} FROM work_items WHERE id = @workItemId", new { workItemId }, ct);
        if (item is null)
            throw ApiException.NotFound("The work item");
        if (item.OrgId != user.OrgId)
            throw ApiException.NotFound("The work item");
        if (user.IsCustomer && item.CustomerId != user.Id)
            throw ApiException.NotFound("The work item");
        if (!user.IsCustomer && !SeesStore(user, item.StoreId))
            throw ApiException.NotFound("The work item");
        user.RequirePermission(Permissions.WorkItemsRead);
        return item;
    }

    public const string ExternalRefPrefix = "ext:";

    private async Task<Workflows.WorkItemRow?> WorkItemByRefAsync(CurrentUser user, string reference, CancellationToken ct)
    {
        // Routing decodes a path segment except for %2F, so an external id with "/" arrives with it still encoded.
        var rest = reference[ExternalRefPrefix.Length..].Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);
        var colon = rest.IndexOf(':');
        if (colon is <= 0 or > 40 || rest.Length - colon - 1 is < 1 or > 200)
            return null;
        return await db.QuerySingleOrDefaultAsync<Workflows.WorkItemRow>(
            $"SELECT {Workflows.WorkItemRow.Columns} FROM work_items WHERE org_id = @orgId AND external_system = @system AND external_id = @externalId",
            new { orgId = user.OrgId, system = rest[..colon], externalId = rest[(colon + 1)..] }, ct);
    }

    /// <summary>
    /// An appointment: its own customer, staff with a role in its store (org admins: all), API clients of its
    /// organization (and store, when scoped) with <c>work_items:read</c>.
    /// </summary>
    public async Task<Workflows.AppointmentRow> AppointmentAsync(CurrentUser user, string appointmentId, CancellationToken ct)
    {
        var appointment = appointmentId.Length > 64 ? null
            : await db.QuerySingleOrDefaultAsync<Workflows.AppointmentRow>($"SELECT {Workflows.AppointmentRow.Columns} FROM appointments WHERE id = @appointmentId", new { appointmentId }, ct);
        if (appointment is null)
            throw ApiException.NotFound("The appointment");
        if (appointment.OrgId != user.OrgId)
            throw ApiException.NotFound("The appointment");
        if (user.IsCustomer && appointment.CustomerId != user.Id)
            throw ApiException.NotFound("The appointment");
        if (!user.IsCustomer && !SeesStore(user, appointment.StoreId))
            throw ApiException.NotFound("The appointment");
        user.RequirePermission(Permissions.WorkItemsRead);
        return appointment;
    }

    /// <summary>A workflow template of the caller's organization; customers may read the ones of their organization too.</summary>
    public Task<Workflows.TemplateRow> WorkflowTemplateAsync(CurrentUser user, string templateId, CancellationToken ct) =>
        OfOrganizationAsync<Workflows.TemplateRow>(user, templateId, $"SELECT {Workflows.TemplateRow.Columns} FROM workflow_templates WHERE id = @id",
            r => r.OrgId, "The workflow template", ct);

    /// <summary>A webhook subscription of the caller's organization (who may manage them is the caller's check).</summary>
    public Task<Integrations.WebhookSubscriptionRow> WebhookSubscriptionAsync(CurrentUser user, string subscriptionId, CancellationToken ct) =>
        OfOrganizationAsync<Integrations.WebhookSubscriptionRow>(user, subscriptionId,
            $"SELECT {Integrations.WebhookSubscriptionRow.Columns} FROM webhook_subscriptions WHERE id = @id", r => r.OrgId, "The webhook subscription", ct);

    /// <summary>A connector of the caller's organization (who may manage them is the caller's check).</summary>
    public Task<Integrations.ConnectorRow> ConnectorAsync(CurrentUser user, string connectorId, CancellationToken ct) =>
        OfOrganizationAsync<Integrations.ConnectorRow>(user, connectorId, $"SELECT {Integrations.ConnectorRow.Columns} FROM connectors WHERE id = @id",
            r => r.OrgId, "The connector", ct);

    /// <summary>A row by its id (<c>@id</c> in <paramref name="select"/>) that belongs to the caller's organization; any other is <c>not_found</c>.</summary>
    private async Task<T> OfOrganizationAsync<T>(CurrentUser user, string id, string select, Func<T, string> orgOf, string what, CancellationToken ct)
        where T : class
    {
        var row = id.Length > 64 ? null : await db.QuerySingleOrDefaultAsync<T>(select, new { id }, ct);
        return row is not null && orgOf(row) == user.OrgId ? row : throw ApiException.NotFound(what);
    }

    /// <summary>
    /// A command sent to a connector's system: org admins and API keys of its organization (a store-scoped key: only
    /// for its store's work items); nobody else learns that it exists.
    /// </summary>
    public async Task<Integrations.CommandRow> CommandAsync(CurrentUser user, string commandId, CancellationToken ct)
    {
        var row = await OfOrganizationAsync<Integrations.CommandRow>(user, commandId,
            $"SELECT {Integrations.CommandRow.Columns} FROM connector_commands WHERE id = @id", r => r.OrgId, "The command", ct);
        if (!user.IsApiClient && !user.IsOrgAdmin)
            throw ApiException.NotFound("The command");
        if (user.IsApiClient && user.StoreId is not null)
            await WorkItemAsync(user, row.WorkItemId, ct);
        return row;
    }

    /// <summary>Org admins only; everyone else of the organization gets <c>forbidden</c>.</summary>
    public static void RequireOrgAdmin(CurrentUser user)
    {
        if (!user.IsOrgAdmin)
            throw ApiException.Forbidden("Only an organization admin may do this.");
    }

    /// <summary>Staff only: customers and API clients get <c>forbidden</c>.</summary>
    public static void RequireStaff(CurrentUser user)
    {
        if (!user.IsStaff)
            throw ApiException.Forbidden("Only staff may do this.");
    }
}

/// <summary>
/// A conversation the caller may see, with its members (direct and group) or its assignee and watchers (service).
/// </summary>
public sealed record ConversationAccess(
    ConversationFacts Facts, IReadOnlyList<string>? Members, string? AssigneeId = null, IReadOnlyList<string>? WatcherIds = null, string? State = null)
{
    public Realtime.Audience Audience => Facts.Audience(Members, AssigneeId, WatcherIds);
}
