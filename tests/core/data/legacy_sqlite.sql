-- A database made by the hand-rolled migrations 1-6 of core/db.py before Alembic
-- (commit e9938f4): `evr migrate` on an empty SQLite file, then `sqlite3 FILE .dump`.
-- tests/core/test_migrations.py loads it to prove such a database upgrades in place.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE schema_migrations (
	version INTEGER NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	applied_at DATETIME NOT NULL, 
	PRIMARY KEY (version)
);
INSERT INTO schema_migrations VALUES(1,'initial schema','2026-11-29 15:18:43.716045');
INSERT INTO schema_migrations VALUES(2,'audit log append-only triggers','2026-11-29 15:18:43.746678');
INSERT INTO schema_migrations VALUES(3,'evidential recording and custody chain','2026-11-29 15:18:43.772827');
INSERT INTO schema_migrations VALUES(4,'connection check verdicts','2026-11-29 15:18:43.783062');
INSERT INTO schema_migrations VALUES(5,'victim consent records','2026-11-29 15:18:43.791894');
INSERT INTO schema_migrations VALUES(6,'programme outcomes and recording trace context','2026-11-29 15:18:43.803610');
CREATE TABLE officers (
	id VARCHAR(200) NOT NULL, 
	collar_number VARCHAR(32) NOT NULL, 
	display_name VARCHAR(200) NOT NULL, 
	unit VARCHAR(100) NOT NULL, 
	role VARCHAR(20) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE visits (
	id VARCHAR(36) NOT NULL, 
	crime_reference VARCHAR(64) NOT NULL, 
	officer_id VARCHAR(200) NOT NULL, 
	officer_collar VARCHAR(32) NOT NULL, 
	unit VARCHAR(100) NOT NULL, 
	scheduled_at DATETIME NOT NULL, 
	contact_channel VARCHAR(10) NOT NULL, 
	contact_value VARCHAR(320) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	room_name VARCHAR(64), 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	started_at DATETIME, 
	victim_joined_at DATETIME, 
	ended_at DATETIME, 
	end_reason VARCHAR(200), 
	PRIMARY KEY (id)
);
CREATE TABLE webhook_events (
	event_id VARCHAR(100) NOT NULL, 
	event VARCHAR(50) NOT NULL, 
	received_at DATETIME NOT NULL, 
	PRIMARY KEY (event_id)
);
CREATE TABLE audit_log (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	actor VARCHAR(200) NOT NULL, 
	action VARCHAR(20) NOT NULL, 
	visit_id VARCHAR(36), 
	subject VARCHAR(100) NOT NULL, 
	justification TEXT, 
	recipients TEXT, 
	detail JSON NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE custody_log (
	id INTEGER NOT NULL, 
	evidence_id VARCHAR(128) NOT NULL, 
	seq INTEGER NOT NULL, 
	event VARCHAR(20) NOT NULL, 
	actor VARCHAR(200) NOT NULL, 
	at DATETIME NOT NULL, 
	reason TEXT NOT NULL, 
	details JSON NOT NULL, 
	prev_hash VARCHAR(64) NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_custody_seq UNIQUE (evidence_id, seq)
);
CREATE TABLE api_tokens (
	id VARCHAR(36) NOT NULL, 
	officer_id VARCHAR(200) NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	label VARCHAR(200) NOT NULL, 
	created_at DATETIME NOT NULL, 
	revoked_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(officer_id) REFERENCES officers (id), 
	UNIQUE (token_hash)
);
CREATE TABLE visit_events (
	id INTEGER NOT NULL, 
	visit_id VARCHAR(36) NOT NULL, 
	at DATETIME NOT NULL, 
	kind VARCHAR(40) NOT NULL, 
	actor VARCHAR(200) NOT NULL, 
	detail JSON NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(visit_id) REFERENCES visits (id)
);
CREATE TABLE eligibility_records (
	id INTEGER NOT NULL, 
	visit_id VARCHAR(36) NOT NULL, 
	item VARCHAR(40) NOT NULL, 
	value BOOLEAN NOT NULL, 
	recorded_by VARCHAR(200) NOT NULL, 
	recorded_at DATETIME NOT NULL, 
	note TEXT NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(visit_id) REFERENCES visits (id)
);
CREATE TABLE join_links (
	id VARCHAR(36) NOT NULL, 
	visit_id VARCHAR(36) NOT NULL, 
	role VARCHAR(20) NOT NULL, 
	code_hash VARCHAR(64) NOT NULL, 
	created_by VARCHAR(200) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	used_at DATETIME, 
	revoked_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(visit_id) REFERENCES visits (id), 
	UNIQUE (code_hash)
);
CREATE TABLE recordings (
	id VARCHAR(36) NOT NULL, 
	visit_id VARCHAR(36) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	requested_by VARCHAR(200) NOT NULL, 
	requested_at DATETIME NOT NULL, 
	stop_requested_by VARCHAR(200), 
	stop_requested_at DATETIME, 
	claimed_by VARCHAR(200), 
	claimed_at DATETIME, 
	heartbeat_at DATETIME, 
	retry_at DATETIME, 
	start_timeout FLOAT NOT NULL, 
	stale_after FLOAT NOT NULL, 
	attempts INTEGER NOT NULL, 
	started_at DATETIME, 
	ended_at DATETIME, 
	sealed_at DATETIME, 
	problem TEXT, 
	problem_reason VARCHAR(20), 
	lag_seconds FLOAT, 
	participants JSON NOT NULL, 
	gaps JSON NOT NULL, 
	manifest_sha256 VARCHAR(64), 
	key_id VARCHAR(64), 
	traceparent VARCHAR(55), 
	PRIMARY KEY (id), 
	FOREIGN KEY(visit_id) REFERENCES visits (id)
);
CREATE TABLE recording_consents (
	id INTEGER NOT NULL, 
	visit_id VARCHAR(36) NOT NULL, 
	identity VARCHAR(100) NOT NULL, 
	at DATETIME NOT NULL, 
	text_version VARCHAR(40) NOT NULL, 
	method VARCHAR(20) NOT NULL, 
	recorded_by VARCHAR(200) NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(visit_id) REFERENCES visits (id)
);
CREATE TABLE visit_feedback (
	visit_id VARCHAR(36) NOT NULL, 
	identity VARCHAR(100) NOT NULL, 
	recommend BOOLEAN NOT NULL, 
	satisfaction INTEGER NOT NULL, 
	comment TEXT, 
	given_at DATETIME NOT NULL, 
	PRIMARY KEY (visit_id), 
	CONSTRAINT ck_visit_feedback_satisfaction CHECK (satisfaction BETWEEN 1 AND 5), 
	FOREIGN KEY(visit_id) REFERENCES visits (id)
);
CREATE TABLE visit_outcomes (
	visit_id VARCHAR(36) NOT NULL, 
	arrest_or_interview BOOLEAN NOT NULL, 
	charge_or_caution BOOLEAN NOT NULL, 
	victim_withdrew BOOLEAN NOT NULL, 
	recorded_by VARCHAR(200) NOT NULL, 
	recorded_at DATETIME NOT NULL, 
	PRIMARY KEY (visit_id), 
	FOREIGN KEY(visit_id) REFERENCES visits (id)
);
CREATE TABLE participant_sessions (
	id VARCHAR(36) NOT NULL, 
	visit_id VARCHAR(36) NOT NULL, 
	link_id VARCHAR(36) NOT NULL, 
	role VARCHAR(20) NOT NULL, 
	identity VARCHAR(100) NOT NULL, 
	secret_hash VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(visit_id) REFERENCES visits (id), 
	FOREIGN KEY(link_id) REFERENCES join_links (id), 
	UNIQUE (secret_hash)
);
CREATE TABLE recording_segments (
	id INTEGER NOT NULL, 
	recording_id VARCHAR(36) NOT NULL, 
	seg_index INTEGER NOT NULL, 
	name VARCHAR(40) NOT NULL, 
	host VARCHAR(200) NOT NULL, 
	state VARCHAR(10) NOT NULL, 
	start DATETIME NOT NULL, 
	"end" DATETIME, 
	sha256 VARCHAR(64), 
	bytes BIGINT, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_recording_segment UNIQUE (recording_id, seg_index), 
	FOREIGN KEY(recording_id) REFERENCES recordings (id)
);
CREATE TABLE consent_records (
	id INTEGER NOT NULL, 
	visit_id VARCHAR(36) NOT NULL, 
	session_id VARCHAR(36) NOT NULL, 
	identity VARCHAR(100) NOT NULL, 
	consented BOOLEAN NOT NULL, 
	notice_version VARCHAR(40) NOT NULL, 
	recorded_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(visit_id) REFERENCES visits (id), 
	FOREIGN KEY(session_id) REFERENCES participant_sessions (id)
);
CREATE TABLE bandwidth_checks (
	id VARCHAR(36) NOT NULL, 
	visit_id VARCHAR(36) NOT NULL, 
	session_id VARCHAR(36) NOT NULL, 
	identity VARCHAR(100) NOT NULL, 
	role VARCHAR(20) NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME NOT NULL, 
	verdict VARCHAR(20) NOT NULL, 
	video_preset VARCHAR(8), 
	uplink_kbps FLOAT, 
	downlink_kbps FLOAT, 
	rtt_ms FLOAT, 
	measurements JSON NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(visit_id) REFERENCES visits (id), 
	FOREIGN KEY(session_id) REFERENCES participant_sessions (id)
);
CREATE INDEX ix_visits_officer ON visits (officer_id);
CREATE INDEX ix_visits_status ON visits (status);
CREATE INDEX ix_visits_unit ON visits (unit);
CREATE INDEX ix_audit_visit ON audit_log (visit_id);
CREATE INDEX ix_visit_events_visit ON visit_events (visit_id);
CREATE INDEX ix_eligibility_visit ON eligibility_records (visit_id);
CREATE INDEX ix_recordings_visit ON recordings (visit_id);
CREATE INDEX ix_recordings_status ON recordings (status);
CREATE INDEX ix_recording_consents_visit ON recording_consents (visit_id);
CREATE INDEX ix_consent_visit ON consent_records (visit_id);
CREATE INDEX ix_bandwidth_checks_visit ON bandwidth_checks (visit_id, finished_at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER custody_log_no_update BEFORE UPDATE ON custody_log BEGIN SELECT RAISE(ABORT, 'custody_log is append-only'); END;
CREATE TRIGGER custody_log_no_delete BEFORE DELETE ON custody_log BEGIN SELECT RAISE(ABORT, 'custody_log is append-only'); END;
COMMIT;
