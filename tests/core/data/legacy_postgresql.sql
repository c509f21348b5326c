-- A database made by the hand-rolled migrations 1-6 of core/db.py before Alembic
-- (commit e9938f4): `evr migrate` on an empty PostgreSQL 15 database, then
-- `pg_dump --inserts --no-owner --no-privileges`, with psql's \restrict lines removed.
-- tests/core/test_migrations.py loads it to prove such a database upgrades in place.
--
-- PostgreSQL database dump
--


-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: audit_log_append_only(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.audit_log_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;


--
-- Name: custody_log_append_only(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.custody_log_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ BEGIN RAISE EXCEPTION 'custody_log is append-only'; END $$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: api_tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_tokens (
    id character varying(36) NOT NULL,
    officer_id character varying(200) NOT NULL,
    token_hash character varying(64) NOT NULL,
    label character varying(200) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone
);


--
-- Name: audit_log; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit_log (
    id integer NOT NULL,
    at timestamp with time zone NOT NULL,
    actor character varying(200) NOT NULL,
    action character varying(20) NOT NULL,
    visit_id character varying(36),
    subject character varying(100) NOT NULL,
    justification text,
    recipients text,
    detail json NOT NULL
);


--
-- Name: audit_log_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.audit_log_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: audit_log_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.audit_log_id_seq OWNED BY public.audit_log.id;


--
-- Name: bandwidth_checks; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.bandwidth_checks (
    id character varying(36) NOT NULL,
    visit_id character varying(36) NOT NULL,
    session_id character varying(36) NOT NULL,
    identity character varying(100) NOT NULL,
    role character varying(20) NOT NULL,
    started_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone NOT NULL,
    verdict character varying(20) NOT NULL,
    video_preset character varying(8),
    uplink_kbps double precision,
    downlink_kbps double precision,
    rtt_ms double precision,
    measurements json NOT NULL
);


--
-- Name: consent_records; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.consent_records (
    id integer NOT NULL,
    visit_id character varying(36) NOT NULL,
    session_id character varying(36) NOT NULL,
    identity character varying(100) NOT NULL,
    consented boolean NOT NULL,
    notice_version character varying(40) NOT NULL,
    recorded_at timestamp with time zone NOT NULL
);


--
-- Name: consent_records_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.consent_records_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: consent_records_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.consent_records_id_seq OWNED BY public.consent_records.id;


--
-- Name: custody_log; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.custody_log (
    id integer NOT NULL,
    evidence_id character varying(128) NOT NULL,
    seq integer NOT NULL,
    event character varying(20) NOT NULL,
    actor character varying(200) NOT NULL,
    at timestamp with time zone NOT NULL,
    reason text NOT NULL,
    details json NOT NULL,
    prev_hash character varying(64) NOT NULL,
    hash character varying(64) NOT NULL
);


--
-- Name: custody_log_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.custody_log_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: custody_log_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.custody_log_id_seq OWNED BY public.custody_log.id;


--
-- Name: eligibility_records; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.eligibility_records (
    id integer NOT NULL,
    visit_id character varying(36) NOT NULL,
    item character varying(40) NOT NULL,
    value boolean NOT NULL,
    recorded_by character varying(200) NOT NULL,
    recorded_at timestamp with time zone NOT NULL,
    note text NOT NULL
);


--
-- Name: eligibility_records_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.eligibility_records_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: eligibility_records_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.eligibility_records_id_seq OWNED BY public.eligibility_records.id;


--
-- Name: join_links; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.join_links (
    id character varying(36) NOT NULL,
    visit_id character varying(36) NOT NULL,
    role character varying(20) NOT NULL,
    code_hash character varying(64) NOT NULL,
    created_by character varying(200) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone,
    revoked_at timestamp with time zone
);


--
-- Name: officers; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.officers (
    id character varying(200) NOT NULL,
    collar_number character varying(32) NOT NULL,
    display_name character varying(200) NOT NULL,
    unit character varying(100) NOT NULL,
    role character varying(20) NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: participant_sessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.participant_sessions (
    id character varying(36) NOT NULL,
    visit_id character varying(36) NOT NULL,
    link_id character varying(36) NOT NULL,
    role character varying(20) NOT NULL,
    identity character varying(100) NOT NULL,
    secret_hash character varying(64) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL
);


--
-- Name: recording_consents; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.recording_consents (
    id integer NOT NULL,
    visit_id character varying(36) NOT NULL,
    identity character varying(100) NOT NULL,
    at timestamp with time zone NOT NULL,
    text_version character varying(40) NOT NULL,
    method character varying(20) NOT NULL,
    recorded_by character varying(200) NOT NULL
);


--
-- Name: recording_consents_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.recording_consents_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: recording_consents_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.recording_consents_id_seq OWNED BY public.recording_consents.id;


--
-- Name: recording_segments; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.recording_segments (
    id integer NOT NULL,
    recording_id character varying(36) NOT NULL,
    seg_index integer NOT NULL,
    name character varying(40) NOT NULL,
    host character varying(200) NOT NULL,
    state character varying(10) NOT NULL,
    start timestamp with time zone NOT NULL,
    "end" timestamp with time zone,
    sha256 character varying(64),
    bytes bigint
);


--
-- Name: recording_segments_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.recording_segments_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: recording_segments_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.recording_segments_id_seq OWNED BY public.recording_segments.id;


--
-- Name: recordings; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.recordings (
    id character varying(36) NOT NULL,
    visit_id character varying(36) NOT NULL,
    status character varying(20) NOT NULL,
    requested_by character varying(200) NOT NULL,
    requested_at timestamp with time zone NOT NULL,
    stop_requested_by character varying(200),
    stop_requested_at timestamp with time zone,
    claimed_by character varying(200),
    claimed_at timestamp with time zone,
    heartbeat_at timestamp with time zone,
    retry_at timestamp with time zone,
    start_timeout double precision NOT NULL,
    stale_after double precision NOT NULL,
    attempts integer NOT NULL,
    started_at timestamp with time zone,
    ended_at timestamp with time zone,
    sealed_at timestamp with time zone,
    problem text,
    problem_reason character varying(20),
    lag_seconds double precision,
    participants json NOT NULL,
    gaps json NOT NULL,
    manifest_sha256 character varying(64),
    key_id character varying(64),
    traceparent character varying(55)
);


--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version integer NOT NULL,
    name character varying(100) NOT NULL,
    applied_at timestamp with time zone NOT NULL
);


--
-- Name: schema_migrations_version_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.schema_migrations_version_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: schema_migrations_version_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.schema_migrations_version_seq OWNED BY public.schema_migrations.version;


--
-- Name: visit_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.visit_events (
    id integer NOT NULL,
    visit_id character varying(36) NOT NULL,
    at timestamp with time zone NOT NULL,
    kind character varying(40) NOT NULL,
    actor character varying(200) NOT NULL,
    detail json NOT NULL
);


--
-- Name: visit_events_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.visit_events_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: visit_events_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.visit_events_id_seq OWNED BY public.visit_events.id;


--
-- Name: visit_feedback; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.visit_feedback (
    visit_id character varying(36) NOT NULL,
    identity character varying(100) NOT NULL,
    recommend boolean NOT NULL,
    satisfaction integer NOT NULL,
    comment text,
    given_at timestamp with time zone NOT NULL,
    CONSTRAINT ck_visit_feedback_satisfaction CHECK (((satisfaction >= 1) AND (satisfaction <= 5)))
);


--
-- Name: visit_outcomes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.visit_outcomes (
    visit_id character varying(36) NOT NULL,
    arrest_or_interview boolean NOT NULL,
    charge_or_caution boolean NOT NULL,
    victim_withdrew boolean NOT NULL,
    recorded_by character varying(200) NOT NULL,
    recorded_at timestamp with time zone NOT NULL
);


--
-- Name: visits; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.visits (
    id character varying(36) NOT NULL,
    crime_reference character varying(64) NOT NULL,
    officer_id character varying(200) NOT NULL,
    officer_collar character varying(32) NOT NULL,
    unit character varying(100) NOT NULL,
    scheduled_at timestamp with time zone NOT NULL,
    contact_channel character varying(10) NOT NULL,
    contact_value character varying(320) NOT NULL,
    status character varying(20) NOT NULL,
    room_name character varying(64),
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    started_at timestamp with time zone,
    victim_joined_at timestamp with time zone,
    ended_at timestamp with time zone,
    end_reason character varying(200)
);


--
-- Name: webhook_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_events (
    event_id character varying(100) NOT NULL,
    event character varying(50) NOT NULL,
    received_at timestamp with time zone NOT NULL
);


--
-- Name: audit_log id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_log ALTER COLUMN id SET DEFAULT nextval('public.audit_log_id_seq'::regclass);


--
-- Name: consent_records id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.consent_records ALTER COLUMN id SET DEFAULT nextval('public.consent_records_id_seq'::regclass);


--
-- Name: custody_log id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.custody_log ALTER COLUMN id SET DEFAULT nextval('public.custody_log_id_seq'::regclass);


--
-- Name: eligibility_records id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.eligibility_records ALTER COLUMN id SET DEFAULT nextval('public.eligibility_records_id_seq'::regclass);


--
-- Name: recording_consents id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.recording_consents ALTER COLUMN id SET DEFAULT nextval('public.recording_consents_id_seq'::regclass);


--
-- Name: recording_segments id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.recording_segments ALTER COLUMN id SET DEFAULT nextval('public.recording_segments_id_seq'::regclass);


--
-- Name: schema_migrations version; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations ALTER COLUMN version SET DEFAULT nextval('public.schema_migrations_version_seq'::regclass);


--
-- Name: visit_events id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.visit_events ALTER COLUMN id SET DEFAULT nextval('public.visit_events_id_seq'::regclass);


--
-- Data for Name: api_tokens; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: audit_log; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: bandwidth_checks; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: consent_records; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: custody_log; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: eligibility_records; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: join_links; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: officers; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: participant_sessions; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: recording_consents; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: recording_segments; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: recordings; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: schema_migrations; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.schema_migrations VALUES (1, 'initial schema', '2026-11-29 15:18:47.650968+00');
INSERT INTO public.schema_migrations VALUES (2, 'audit log append-only triggers', '2026-11-29 15:18:47.662509+00');
INSERT INTO public.schema_migrations VALUES (3, 'evidential recording and custody chain', '2026-11-29 15:18:47.668591+00');
INSERT INTO public.schema_migrations VALUES (4, 'connection check verdicts', '2026-11-29 15:18:47.676139+00');
INSERT INTO public.schema_migrations VALUES (5, 'victim consent records', '2026-11-29 15:18:47.679453+00');
INSERT INTO public.schema_migrations VALUES (6, 'programme outcomes and recording trace context', '2026-11-29 15:18:47.709808+00');


--
-- Data for Name: visit_events; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: visit_feedback; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: visit_outcomes; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: visits; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: webhook_events; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Name: audit_log_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.audit_log_id_seq', 1, false);


--
-- Name: consent_records_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.consent_records_id_seq', 1, false);


--
-- Name: custody_log_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.custody_log_id_seq', 1, false);


--
-- Name: eligibility_records_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.eligibility_records_id_seq', 1, false);


--
-- Name: recording_consents_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.recording_consents_id_seq', 1, false);


--
-- Name: recording_segments_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.recording_segments_id_seq', 1, false);


--
-- Name: schema_migrations_version_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.schema_migrations_version_seq', 1, false);


--
-- Name: visit_events_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.visit_events_id_seq', 1, false);


--
-- Name: api_tokens api_tokens_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_pkey PRIMARY KEY (id);


--
-- Name: api_tokens api_tokens_token_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash);


--
-- Name: audit_log audit_log_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);


--
-- Name: bandwidth_checks bandwidth_checks_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.bandwidth_checks
    ADD CONSTRAINT bandwidth_checks_pkey PRIMARY KEY (id);


--
-- Name: consent_records consent_records_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.consent_records
    ADD CONSTRAINT consent_records_pkey PRIMARY KEY (id);


--
-- Name: custody_log custody_log_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.custody_log
    ADD CONSTRAINT custody_log_pkey PRIMARY KEY (id);


--
-- Name: eligibility_records eligibility_records_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.eligibility_records
    ADD CONSTRAINT eligibility_records_pkey PRIMARY KEY (id);


--
-- Name: join_links join_links_code_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.join_links
    ADD CONSTRAINT join_links_code_hash_key UNIQUE (code_hash);


--
-- Name: join_links join_links_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.join_links
    ADD CONSTRAINT join_links_pkey PRIMARY KEY (id);


--
-- Name: officers officers_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.officers
    ADD CONSTRAINT officers_pkey PRIMARY KEY (id);


--
-- Name: participant_sessions participant_sessions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.participant_sessions
    ADD CONSTRAINT participant_sessions_pkey PRIMARY KEY (id);


--
-- Name: participant_sessions participant_sessions_secret_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.participant_sessions
    ADD CONSTRAINT participant_sessions_secret_hash_key UNIQUE (secret_hash);


--
-- Name: recording_consents recording_consents_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.recording_consents
    ADD CONSTRAINT recording_consents_pkey PRIMARY KEY (id);


--
-- Name: recording_segments recording_segments_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.recording_segments
    ADD CONSTRAINT recording_segments_pkey PRIMARY KEY (id);


--
-- Name: recordings recordings_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.recordings
    ADD CONSTRAINT recordings_pkey PRIMARY KEY (id);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: custody_log uq_custody_seq; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.custody_log
    ADD CONSTRAINT uq_custody_seq UNIQUE (evidence_id, seq);


--
-- Name: recording_segments uq_recording_segment; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.recording_segments
    ADD CONSTRAINT uq_recording_segment UNIQUE (recording_id, seg_index);


--
-- Name: visit_events visit_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.visit_events
    ADD CONSTRAINT visit_events_pkey PRIMARY KEY (id);


--
-- Name: visit_feedback visit_feedback_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.visit_feedback
    ADD CONSTRAINT visit_feedback_pkey PRIMARY KEY (visit_id);


--
-- Name: visit_outcomes visit_outcomes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.visit_outcomes
    ADD CONSTRAINT visit_outcomes_pkey PRIMARY KEY (visit_id);


--
-- Name: visits visits_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.visits
    ADD CONSTRAINT visits_pkey PRIMARY KEY (id);


--
-- Name: webhook_events webhook_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_events
    ADD CONSTRAINT webhook_events_pkey PRIMARY KEY (event_id);


--
-- Name: ix_audit_visit; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_audit_visit ON public.audit_log USING btree (visit_id);


--
-- Name: ix_bandwidth_checks_visit; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_bandwidth_checks_visit ON public.bandwidth_checks USING btree (visit_id, finished_at);


--
-- Name: ix_consent_visit; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_consent_visit ON public.consent_records USING btree (visit_id);


--
-- Name: ix_eligibility_visit; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_eligibility_visit ON public.eligibility_records USING btree (visit_id);


--
-- Name: ix_recording_consents_visit; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_recording_consents_visit ON public.recording_consents USING btree (visit_id);


--
-- Name: ix_recordings_status; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_recordings_status ON public.recordings USING btree (status);


--
-- Name: ix_recordings_visit; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_recordings_visit ON public.recordings USING btree (visit_id);


--
-- Name: ix_visit_events_visit; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_visit_events_visit ON public.visit_events USING btree (visit_id);


--
-- Name: ix_visits_officer; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_visits_officer ON public.visits USING btree (officer_id);


--
-- Name: ix_visits_status; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_visits_status ON public.visits USING btree (status);


--
-- Name: ix_visits_unit; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_visits_unit ON public.visits USING btree (unit);


--
-- Name: audit_log audit_log_append_only; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER audit_log_append_only BEFORE DELETE OR UPDATE ON public.audit_log FOR EACH ROW EXECUTE FUNCTION public.audit_log_append_only();


--
-- Name: custody_log custody_log_append_only; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER custody_log_append_only BEFORE DELETE OR UPDATE ON public.custody_log FOR EACH ROW EXECUTE FUNCTION public.custody_log_append_only();


--
-- Name: api_tokens api_tokens_officer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_officer_id_fkey FOREIGN KEY (officer_id) REFERENCES public.officers(id);


--
-- Name: bandwidth_checks bandwidth_checks_session_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.bandwidth_checks
    ADD CONSTRAINT bandwidth_checks_session_id_fkey FOREIGN KEY (session_id) REFERENCES public.participant_sessions(id);


--
-- Name: bandwidth_checks bandwidth_checks_visit_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.bandwidth_checks
    ADD CONSTRAINT bandwidth_checks_visit_id_fkey FOREIGN KEY (visit_id) REFERENCES public.visits(id);


--
-- Name: consent_records consent_records_session_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.consent_records
    ADD CONSTRAINT consent_records_session_id_fkey FOREIGN KEY (session_id) REFERENCES public.participant_sessions(id);


--
-- Name: consent_records consent_records_visit_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.consent_records
    ADD CONSTRAINT consent_records_visit_id_fkey FOREIGN KEY (visit_id) REFERENCES public.visits(id);


--
-- Name: eligibility_records eligibility_records_visit_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.eligibility_records
    ADD CONSTRAINT eligibility_records_visit_id_fkey FOREIGN KEY (visit_id) REFERENCES public.visits(id);


--
-- Name: join_links join_links_visit_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.join_links
    ADD CONSTRAINT join_links_visit_id_fkey FOREIGN KEY (visit_id) REFERENCES public.visits(id);


--
-- Name: participant_sessions participant_sessions_link_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.participant_sessions
    ADD CONSTRAINT participant_sessions_link_id_fkey FOREIGN KEY (link_id) REFERENCES public.join_links(id);


--
-- Name: participant_sessions participant_sessions_visit_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.participant_sessions
    ADD CONSTRAINT participant_sessions_visit_id_fkey FOREIGN KEY (visit_id) REFERENCES public.visits(id);


--
-- Name: recording_consents recording_consents_visit_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.recording_consents
    ADD CONSTRAINT recording_consents_visit_id_fkey FOREIGN KEY (visit_id) REFERENCES public.visits(id);


--
-- Name: recording_segments recording_segments_recording_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.recording_segments
    ADD CONSTRAINT recording_segments_recording_id_fkey FOREIGN KEY (recording_id) REFERENCES public.recordings(id);


--
-- Name: recordings recordings_visit_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.recordings
    ADD CONSTRAINT recordings_visit_id_fkey FOREIGN KEY (visit_id) REFERENCES public.visits(id);


--
-- Name: visit_events visit_events_visit_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.visit_events
    ADD CONSTRAINT visit_events_visit_id_fkey FOREIGN KEY (visit_id) REFERENCES public.visits(id);


--
-- Name: visit_feedback visit_feedback_visit_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.visit_feedback
    ADD CONSTRAINT visit_feedback_visit_id_fkey FOREIGN KEY (visit_id) REFERENCES public.visits(id);


--
-- Name: visit_outcomes visit_outcomes_visit_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.visit_outcomes
    ADD CONSTRAINT visit_outcomes_visit_id_fkey FOREIGN KEY (visit_id) REFERENCES public.visits(id);


--
-- PostgreSQL database dump complete
--


